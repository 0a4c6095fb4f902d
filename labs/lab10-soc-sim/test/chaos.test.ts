// Chaos: the whole SOC as real processes (built-in registry, Redis alert store) under a steady HTTP load;
// each service in turn is killed with SIGKILL, the others degrade as their pattern promises, and recover
// once it is back. The delivery promise (README, Pattern): a 200 from `POST /api/events` comes only
// once the event's alerts are stored, so every acknowledged event's alert must be in Redis at the end,
// whatever was killed meanwhile. Every event carries a known-bad file hash from a source of its own, so
// its alert (intel-hash, subject = its source) is one key of its own: nothing can hide a lost one.
import { ProcessPool, type RoleProcess, testLogger, waitUntil } from "@zlabs/kit/testing";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../internal/discovery.ts";
import { INDICATORS } from "../internal/intel.ts";
import type { ServiceRecord } from "../internal/registry.ts";
import { benignEvent, eventId, postEvent } from "./support/attack.ts";
import { missingBinary } from "./support/etcd-server.ts";
import { REDIS_BIN, RedisServer } from "./support/redis-server.ts";
import { ROLES, startRegistry, startRole, waitReady } from "./support/soc.ts";

const missing = missingBinary(REDIS_BIN);
const log = testLogger("lab10");
const BAD_HASH = INDICATORS.find((i) => i.kind === "hash")?.value as string;
/** Deadline for anything to show on this busy machine (a restart runs tsx again). */
const WAIT_MS = 60_000;
/** Acknowledgements that count as "the SOC is working": enough to be more than a straggler. */
const PROGRESS = 15;
const CLIENTS = 4;

interface Acked {
  id: string;
  srcIp: string;
  alerts: string[];
}

/** Steady load: CLIENTS loops, each posting one event until it is acknowledged (same id on every retry). */
class Load {
  readonly acked: Acked[] = [];
  failures = 0;
  gatewayHttp: string;
  private running = true;
  private readonly loops: Promise<void>[];
  private serial = 0;

  constructor(gatewayHttp: string) {
    this.gatewayHttp = gatewayHttp;
    this.loops = Array.from({ length: CLIENTS }, () => this.loop());
  }

  private async loop(): Promise<void> {
    const base = benignEvent(11, "chaos");
    while (this.running) {
      this.serial += 1;
      const n = this.serial;
      const srcIp = `10.${200 + ((n >> 16) & 0x1f)}.${(n >> 8) & 0xff}.${n & 0xff}`;
      const event = { ...base, id: eventId("chaos"), srcIp, fileSha256: BAD_HASH };
      // Until acknowledged, even after stop() was asked: an event in flight is seen through.
      for (;;) {
        const answer = await postEvent(this.gatewayHttp, event, 20_000).catch(() => undefined);
        if (answer?.status === 200) {
          this.acked.push({ id: event.id, srcIp, alerts: answer.body.alerts ?? [] });
          break;
        }
        this.failures += 1;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  /** Waits until `n` more events are acknowledged than `from`. */
  async progress(from: number, n: number, what: string): Promise<void> {
    await waitUntil(() => this.acked.length >= from + n, {
      timeoutMs: WAIT_MS,
      what: `${what} (${this.acked.length - from} of ${n} acknowledged)`,
      everyMs: 50,
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe.skipIf(missing)(`chaos: SIGKILL each service in turn under load${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const procs = new ProcessPool();
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(() => procs.stopAll());
  afterAll(() => redis?.stop());

  it("the others degrade as promised, recover when it is back, and no acknowledged event's alert is lost", async () => {
    const { registry, proc: registryProc } = await startRegistry(procs);
    const extra: Record<string, string[]> = { "alert-sink": ["--store", redis.url] };
    const running = new Map<string, RoleProcess>([["service-registry", registryProc]]);
    const start = (role: string, instance: string) => {
      const proc = startRole(procs, registry, role, extra[role] ?? [], instance);
      running.set(instance, proc);
      return proc;
    };
    const started = [...ROLES.map((r) => [r, start(r, r)] as const), ["detector", start("detector", "detector-2")] as const];
    const ready = await Promise.all(started.map(([, p]) => waitReady(p)));
    const gateway = ready[ROLES.indexOf("ingest-gateway")];
    const load = new Load(gateway?.meta.http as string);
    const watcher = await openRegistry(`builtin:${registry}`, log);
    let services: ServiceRecord[] = [];
    const unwatch = watcher.watch(undefined, (records) => {
      services = records;
    });
    try {
      await load.progress(0, PROGRESS, "the SOC acknowledging events");

      // Services whose loss the others ride through: acknowledgements go on while they are down.
      // - soc-dashboard: only fed (PUB); - intel-feed: detectors keep the indicators they have;
      // - detector: the Majordomo broker sends to the other detector; - service-registry: every peer
      //   is connected already, discovery waits for it to return.
      // The others are on the event path: acknowledgements wait (the gateway resends every --retry-ms).
      const plan: [instance: string, role: string, ridesThrough: boolean][] = [
        ["soc-dashboard", "soc-dashboard", true],
        ["intel-feed", "intel-feed", true],
        ["detector", "detector", true],
        ["detection-broker", "detection-broker", false],
        ["event-enricher", "event-enricher", false],
        ["alert-sink", "alert-sink", false],
        ["ingest-gateway", "ingest-gateway", false],
        ["service-registry", "service-registry", true],
      ];
      for (const [instance, role, ridesThrough] of plan) {
        const victim = running.get(instance) as RoleProcess;
        const failuresBefore = load.failures;
        await procs.crash(victim);
        const atKill = load.acked.length;
        if (ridesThrough) await load.progress(atKill, PROGRESS, `acknowledgements while ${instance} is down`);
        if (role === "ingest-gateway") {
          // Its clients see it go: connections refused until it is back (their events are resent).
          await waitUntil(() => load.failures > failuresBefore, { timeoutMs: WAIT_MS, what: "clients seeing the gateway gone" });
        }
        // Back, under the same instance name (its ports are new: the others find it through the registry).
        if (role === "service-registry") {
          running.set(instance, (await startRegistry(procs, registry)).proc);
          // Every service registers again with the new registry process.
          await waitUntil(() => new Set(services.map((s) => s.type)).size === ROLES.length && services.length === ROLES.length + 1, {
            timeoutMs: WAIT_MS,
            what: `every service registered again after the registry restart (${services.map((s) => s.instance).join(", ")})`,
          });
        } else {
          const back = await waitReady(start(role, instance));
          if (role === "ingest-gateway") load.gatewayHttp = back.meta.http as string;
        }
        await load.progress(load.acked.length, PROGRESS, `acknowledgements after ${instance} came back`);
        log.info({ instance, ackedWhileDown: load.acked.length - atKill }, "recovered");
      }
    } finally {
      unwatch();
      await watcher.close();
      await load.stop();
    }

    // The promise: each acknowledged event that reported its alert has that alert in the store.
    const withAlert = load.acked.filter((a) => a.alerts.includes("intel-hash"));
    expect(withAlert.length).toBeGreaterThan(PROGRESS);
    const client = new Redis(redis.url);
    try {
      const keys = withAlert.map((a) => `alerts:critical:intel-hash:${a.srcIp}`);
      const exists = await Promise.all(keys.map((k) => client.exists(k)));
      const lost = keys.filter((_, i) => exists[i] !== 1);
      expect(lost).toEqual([]);
    } finally {
      client.disconnect();
    }
  }, 600_000);
});
