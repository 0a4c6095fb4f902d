// The contract every AlertStore backend keeps (internal/alert-store.ts), as one suite each backend runs:
// the built-in memory store (test/alert-store-memory.test.ts) and Redis (test/redis.test.ts).
import { waitUntil } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Alert, AlertStore, Severity } from "../../internal/alert-store.ts";

/** Deadline for an expiry to show: generous, the machine is shared and busy. */
export const STORE_WAIT_MS = 20_000;
const LONG_TTL_MS = 600_000;

export function alert(subject: string, at: number, fields: Partial<Alert> = {}): Alert {
  return {
    severity: "high" as Severity,
    rule: "port-scan",
    subject,
    summary: `port scan from ${subject}`,
    eventId: `ev-${subject}-${at}`,
    firstSeen: at,
    lastSeen: at,
    count: 1,
    ...fields,
  };
}

/**
 * `open` returns a store holding no live alerts (a fresh one, or the shared server emptied) for each test.
 */
export function describeAlertStoreContract(name: string, open: () => Promise<AlertStore>): void {
  describe(`AlertStore contract: ${name}`, () => {
    let store: AlertStore;

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store?.close();
    });

    it("put stores a new alert, list returns it as stored", async () => {
      const a = alert("10.0.0.1", 1_000);
      expect(await store.put(a, LONG_TTL_MS)).toBe("stored");
      expect(await store.list(10)).toEqual([a]);
    });

    it("a repeat within the TTL is a duplicate: count + 1, lastSeen moves, the rest as first stored", async () => {
      const first = alert("10.0.0.2", 1_000);
      expect(await store.put(first, LONG_TTL_MS)).toBe("stored");
      expect(await store.put(alert("10.0.0.2", 2_000, { summary: "again", eventId: "ev-2" }), LONG_TTL_MS)).toBe("duplicate");
      expect(await store.put(alert("10.0.0.2", 3_000, { eventId: "ev-3" }), LONG_TTL_MS)).toBe("duplicate");
      expect(await store.list(10)).toEqual([{ ...first, count: 3, lastSeen: 3_000 }]);
    });

    it("the key is severity, rule and subject: any of them different is another alert", async () => {
      const base = alert("10.0.0.3", 1_000);
      const others = [
        alert("10.0.0.4", 1_001),
        alert("10.0.0.3", 1_002, { rule: "intel-match" }),
        alert("10.0.0.3", 1_003, { severity: "critical" }),
      ];
      for (const a of [base, ...others]) expect(await store.put(a, LONG_TTL_MS)).toBe("stored");
      expect((await store.list(10)).map((a) => a.eventId)).toEqual(
        [...others]
          .reverse()
          .map((a) => a.eventId)
          .concat(base.eventId),
      );
    });

    it("concurrent repeats of one alert: exactly one stored, every other a duplicate, none lost", async () => {
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => store.put(alert("10.0.0.5", 1_000 + i), LONG_TTL_MS)));
      expect(results.filter((r) => r === "stored")).toHaveLength(1);
      expect(results.filter((r) => r === "duplicate")).toHaveLength(24);
      const [only] = await store.list(10);
      expect(only?.count).toBe(25);
      expect(only?.lastSeen).toBe(1_024);
    });

    it("list: newest lastSeen first, at most limit, every distinct alert counted", async () => {
      const subjects = Array.from({ length: 60 }, (_, i) => `10.1.0.${i}`);
      // Stored in a scrambled order: list sorts by lastSeen, not by insertion.
      const order = subjects.map((_, i) => (i * 37) % subjects.length);
      for (const i of order) await store.put(alert(subjects[i] as string, 10_000 + i), LONG_TTL_MS);
      // A duplicate moves an old alert to the front.
      await store.put(alert(subjects[0] as string, 99_999), LONG_TTL_MS);
      const all = await store.list(1_000);
      expect(all).toHaveLength(60);
      expect(all[0]).toMatchObject({ subject: subjects[0], count: 2, lastSeen: 99_999 });
      const rest = all.slice(1).map((a) => a.lastSeen);
      expect(rest).toEqual([...rest].sort((x, y) => y - x));
      const top = await store.list(5);
      expect(top).toEqual(all.slice(0, 5));
    });

    it("an expired alert is gone from list, and the same key is then stored as new", async () => {
      expect(await store.put(alert("10.0.0.6", 1_000), 300)).toBe("stored");
      expect(await store.put(alert("10.0.0.7", 1_000), LONG_TTL_MS)).toBe("stored");
      await waitUntil(async () => (await store.list(10)).every((a) => a.subject !== "10.0.0.6"), {
        timeoutMs: STORE_WAIT_MS,
        what: "the short-lived alert expired",
        everyMs: 50,
      });
      expect((await store.list(10)).map((a) => a.subject)).toEqual(["10.0.0.7"]);
      const again = alert("10.0.0.6", 5_000);
      expect(await store.put(again, LONG_TTL_MS)).toBe("stored");
      expect((await store.list(10)).find((a) => a.subject === "10.0.0.6")).toEqual(again);
    });

    it("a duplicate keeps the first alert's expiry (it does not extend it)", async () => {
      expect(await store.put(alert("10.0.0.8", 1_000), 1_500)).toBe("stored");
      // The repeat asks for a long TTL: the alert must still expire at the first one's time.
      expect(await store.put(alert("10.0.0.8", 2_000), LONG_TTL_MS)).toBe("duplicate");
      await waitUntil(async () => (await store.list(10)).length === 0, {
        timeoutMs: STORE_WAIT_MS,
        what: "the alert expired at its first TTL despite the duplicate",
        everyMs: 50,
      });
    });
  });
}
