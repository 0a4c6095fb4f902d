// The contract every Registry backend keeps (internal/registry.ts), as one suite each backend runs:
// the built-in registry (test/registry-builtin.test.ts) and real etcd (test/etcd.test.ts).
import { waitUntil } from "@zlabs/kit/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Registry, ServiceRecord } from "../../internal/registry.ts";

export interface RegistryUnderTest {
  /** A new client of the registry under test; may be called several times (several services). */
  registry(): Promise<Registry>;
  /** Stops the registry server and starts it again on the same address (with its data where it keeps any). */
  restart?(): Promise<void>;
  /** Stops the server (clients are closed by the suite first). */
  close(): Promise<void>;
}

/** Deadline for anything the registry must show: generous, the machine is shared and busy. */
export const CONTRACT_WAIT_MS = 20_000;
/** The shortest lease the suite asks for: etcd counts TTLs in whole seconds and grants at least ~2 s. */
export const SHORT_TTL_MS = 2_000;

let serial = 0;
/** A type name no other test of the suite uses, so the tests share one server without seeing each other. */
function freshType(): string {
  serial += 1;
  return `svc${serial}-${process.pid}`;
}

export function record(type: string, instance: string, port = 5101, meta: Record<string, string> = {}): ServiceRecord {
  return { type, instance, endpoint: `tcp://127.0.0.1:${port}`, health: "passing", meta };
}

/** Every list a watch reported, so a test can wait for the one it expects. */
export class WatchLog {
  readonly lists: ServiceRecord[][] = [];
  readonly onChange = (records: ServiceRecord[]): void => {
    this.lists.push(records.map((r) => ({ ...r, meta: { ...r.meta } })));
  };

  get latest(): ServiceRecord[] | undefined {
    return this.lists.at(-1);
  }

  /** Waits until the latest list holds exactly these instances (in this order). */
  async until(instances: string[], what: string, from = 0): Promise<ServiceRecord[]> {
    return waitUntil(
      () => {
        if (this.lists.length <= from) return undefined;
        const latest = this.latest;
        return latest && sameInstances(latest, instances) ? latest : undefined;
      },
      { timeoutMs: CONTRACT_WAIT_MS, what: `${what} (watch saw ${JSON.stringify(this.lists.map(names))})`, everyMs: 20 },
    );
  }
}

function names(records: ServiceRecord[]): string[] {
  return records.map((r) => `${r.type}/${r.instance}`);
}

function sameInstances(records: ServiceRecord[], instances: string[]): boolean {
  return records.length === instances.length && records.every((r, i) => r.instance === instances[i]);
}

async function findUntil(registry: Registry, type: string, instances: string[], what: string): Promise<ServiceRecord[]> {
  let last: ServiceRecord[] = [];
  try {
    return await waitUntil(
      async () => {
        last = await registry.find(type).catch(() => []);
        return sameInstances(last, instances) ? last : undefined;
      },
      { timeoutMs: CONTRACT_WAIT_MS, what, everyMs: 50 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; find gave ${JSON.stringify(names(last))}`);
  }
}

export function describeRegistryContract(name: string, open: () => Promise<RegistryUnderTest>): void {
  describe(`Registry contract: ${name}`, () => {
    let under: RegistryUnderTest;
    const clients: Registry[] = [];
    const unwatches: (() => void)[] = [];

    async function client(): Promise<Registry> {
      const registry = await under.registry();
      clients.push(registry);
      return registry;
    }

    function watch(registry: Registry, type: string | undefined): WatchLog {
      const log = new WatchLog();
      unwatches.push(registry.watch(type, log.onChange));
      return log;
    }

    beforeAll(async () => {
      under = await open();
    });
    afterEach(async () => {
      for (const unwatch of unwatches.splice(0)) unwatch();
      await Promise.all(clients.splice(0).map((c) => c.close()));
    });
    afterAll(async () => {
      await under?.close();
    });

    it("register, then find from another client: the record as written, sorted by instance, only its type", async () => {
      const type = freshType();
      const other = freshType();
      const [a, b] = [await client(), await client()];
      await a.register(record(type, "beta", 5102, { http: "http://127.0.0.1:5180", metrics: "9100" }));
      await a.register(record(type, "alpha", 5101));
      await a.register(record(other, "gamma", 5103));
      const found = await findUntil(b, type, ["alpha", "beta"], "both instances found by the second client");
      expect(found).toEqual([record(type, "alpha", 5101), record(type, "beta", 5102, { http: "http://127.0.0.1:5180", metrics: "9100" })]);
      expect(await b.find(freshType())).toEqual([]);
    });

    it("watch reports the current list at once, then every put and revoke", async () => {
      const type = freshType();
      const [a, b] = [await client(), await client()];
      const first = await a.register(record(type, "one"));
      const log = watch(b, type);
      await log.until(["one"], "the list as it is when the watch starts");
      const second = await a.register(record(type, "two"));
      await log.until(["one", "two"], "the second registration");
      await first.revoke();
      await log.until(["two"], "the revoked one gone");
      await second.setHealth("critical");
      await waitUntil(() => log.latest?.[0]?.health === "critical", { timeoutMs: CONTRACT_WAIT_MS, what: "the health change" });
      expect(second.record.health).toBe("critical");
      expect((await b.find(type)).map((r) => r.health)).toEqual(["critical"]);
    });

    it("watch of every type sees registrations of several types", async () => {
      const [t1, t2] = [freshType(), freshType()];
      const [a, b] = [await client(), await client()];
      const log = watch(b, undefined);
      await a.register(record(t1, "x"));
      await a.register(record(t2, "y"));
      await waitUntil(
        () => {
          const latest = log.latest ?? [];
          return latest.some((r) => r.type === t1 && r.instance === "x") && latest.some((r) => r.type === t2 && r.instance === "y");
        },
        { timeoutMs: CONTRACT_WAIT_MS, what: "both types in the all-types watch" },
      );
    });

    it("revoke deletes the key at once", async () => {
      const type = freshType();
      const [a, b] = [await client(), await client()];
      const registration = await a.register(record(type, "gone"));
      await findUntil(b, type, ["gone"], "the registration");
      await registration.revoke();
      // At once: the very next read no longer has it.
      expect(await b.find(type)).toEqual([]);
    });

    it("a lease that is not renewed expires, and watchers see the record go", async () => {
      const type = freshType();
      const [a, b] = [await client(), await client()];
      const log = watch(b, type);
      // Renewal far later than the TTL: the lease runs out as it would for a service that died.
      await a.register(record(type, "mortal"), { ttlMs: SHORT_TTL_MS, renewMs: 600_000 });
      await log.until(["mortal"], "the registration");
      const from = log.lists.length;
      await log.until([], "the record gone when its lease expired", from);
      expect(await b.find(type)).toEqual([]);
    });

    it("a renewed lease outlives several TTLs", async () => {
      const type = freshType();
      const [a, b] = [await client(), await client()];
      const log = watch(b, type);
      await a.register(record(type, "alive"), { ttlMs: SHORT_TTL_MS, renewMs: 300 });
      await log.until(["alive"], "the registration");
      // A mortal sibling without renewal marks the time: when it has expired, the renewed one
      // has lived past its own TTL too and must still be there, without a gap in between.
      await a.register(record(type, "marker"), { ttlMs: SHORT_TTL_MS, renewMs: 600_000 });
      await log.until(["alive", "marker"], "the marker registered");
      const from = log.lists.length;
      await log.until(["alive"], "the marker expired", from);
      const mortal = await a.register(record(type, "marker2"), { ttlMs: SHORT_TTL_MS, renewMs: 600_000 });
      expect(mortal.record.instance).toBe("marker2");
      await log.until(["alive"], "a second marker expired", log.lists.length);
      const since = log.lists.findIndex((list) => list.some((r) => r.instance === "alive"));
      // From its registration on, no list the watch reported missed it: its lease never lapsed.
      expect(log.lists.slice(since).every((list) => list.some((r) => r.instance === "alive"))).toBe(true);
      expect(await b.find(type)).toEqual([record(type, "alive")]);
    });

    it("close revokes this client's registrations", async () => {
      const type = freshType();
      const [a, b] = [await client(), await client()];
      await a.register(record(type, "leaving"));
      await findUntil(b, type, ["leaving"], "the registration");
      await a.close();
      await findUntil(b, type, [], "the record gone after close");
    });

    it("the registry restarts: registrations come back and watches go on", async ({ skip }) => {
      if (!under.restart) skip("this backend has no restart in its test harness");
      const type = freshType();
      const [a, b] = [await client(), await client()];
      const log = watch(b, type);
      await a.register(record(type, "survivor"), { ttlMs: SHORT_TTL_MS, renewMs: 300 });
      await log.until(["survivor"], "the registration");
      await under.restart?.();
      // The service is found again after the restart (its renewals go on, or it re-registers).
      await findUntil(b, type, ["survivor"], "the registration after the restart");
      // The watch still works: a registration made after the restart reaches it.
      await a.register(record(type, "newcomer"), { ttlMs: SHORT_TTL_MS, renewMs: 300 });
      await log.until(["newcomer", "survivor"], "a registration made after the restart, seen by the old watch");
      // And renewals still work after the restart: a mortal sibling expires, the survivor stays.
      await a.register(record(type, "mortal"), { ttlMs: SHORT_TTL_MS, renewMs: 600_000 });
      await log.until(["mortal", "newcomer", "survivor"], "the mortal registered");
      await log.until(["newcomer", "survivor"], "the mortal expired", log.lists.length);
    });
  });
}
