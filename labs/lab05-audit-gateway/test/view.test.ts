// What the roles show on the demo screen, and the one-line-per-burst reports: pure functions and
// fake timers, no sockets.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Burst, type BurstReport, burstNames } from "../internal/burst.ts";
import { archivistView, clientView, type GatewaySnapshot, gatewayView, RateMeter } from "../internal/view.ts";

const calm: GatewaySnapshot = {
  inflight: 3,
  maxInflight: 20,
  oldestMs: 120,
  busyReason: undefined,
  clients: [
    { name: "audit-client-1", inflight: 2, acked: 1234, busy: 0, busyPerSec: 0, silentMs: 100 },
    { name: "audit-client-2", inflight: 1, acked: 1200, busy: 7, busyPerSec: 0, silentMs: 5200 },
  ],
  acked: 2434,
  ackedPerSec: 14.6,
  busy: 7,
  busyPerSec: 0,
  lost: 0,
  clientGone: 0,
  malformed: 0,
  requestTtlMs: 10_000,
};

describe("the gateway's view", () => {
  it("shows in flight against the bound, the archived rate, and a row per client", () => {
    const view = gatewayView(calm);
    expect(view.title).toBe("3/20 in flight · 15 archived/s · 2 clients");
    expect(view.columns).toEqual(["CLIENT", "IN FLIGHT", "ARCHIVED", "BUSY", "STATE"]);
    expect(view.rows).toEqual([
      ["audit-client-1", 2, "1,234", { text: 0, tone: "dim" }, { text: "sending", tone: "good" }],
      ["audit-client-2", 1, "1,200", { text: "7", tone: "dim" }, { text: "silent 5.2 s", tone: "dim" }],
    ]);
    expect(view.summary).toEqual([
      "archived 2,434 · BUSY 7 (0/s) · oldest in flight 0.1 s (lost at 10.0 s)",
      "lost (no archive reply in time) 0 · replies to gone clients 0 · malformed 0",
    ]);
  });

  it("shows the BUSY phase: why, and which clients are told BUSY", () => {
    const full: GatewaySnapshot = {
      ...calm,
      inflight: 20,
      busyReason: "the archive's hands are full",
      busy: 530,
      busyPerSec: 104.4,
      clients: [{ name: "audit-client-1", inflight: 20, acked: 9, busy: 530, busyPerSec: 48.2, silentMs: 0 }],
    };
    const view = gatewayView(full);
    expect(view.title).toBe("20/20 in flight · BUSY: the archive's hands are full");
    expect(view.rows?.[0]?.slice(3)).toEqual([
      { text: "530", tone: "warn" },
      { text: "told BUSY 48/s", tone: "warn" },
    ]);
    expect(view.summary?.[0]).toBe("archived 2,434 · BUSY 530 (104/s) · oldest in flight 0.1 s (lost at 10.0 s)");
  });

  it("leaves out the oldest request when nothing is in flight", () => {
    expect(gatewayView({ ...calm, inflight: 0, oldestMs: 0, clients: [] }).summary?.[0]).toBe("archived 2,434 · BUSY 7 (0/s)");
  });
});

describe("the client's and the archivist's views", () => {
  const client = {
    acked: 120,
    records: 0,
    inflight: 6,
    window: 10,
    waitingAfterBusy: 4,
    busy: 88,
    timeouts: 2,
    duplicates: 1,
    ackedPerSec: 4.8,
  };

  it("a client without end: acked, in flight of its window, waiting after BUSY, sent again", () => {
    expect(clientView(client).title).toBe(
      "acked 120 (5/s) · in flight 6/10 · 4 waiting after BUSY · BUSY 88 · sent again 2 · duplicates 1",
    );
  });

  it("a client with a count says how many of them, and nothing waits when nothing was told BUSY", () => {
    expect(clientView({ ...client, records: 2000, waitingAfterBusy: 0 }).title).toBe(
      "acked 120/2,000 (5/s) · in flight 6/10 · BUSY 88 · sent again 2 · duplicates 1",
    );
  });

  it("an archivist: stored, its pace, and the archive against its bound", () => {
    expect(archivistView({ stored: 612, duplicates: 3, delayMs: 100, files: 1950, keep: 2000 }).title).toBe(
      "stored 612 · duplicates 3 · 100 ms per record · archive 1,950 records (keeps about 2,000)",
    );
    expect(archivistView({ stored: 1, duplicates: 0, delayMs: 0, files: 1, keep: 0 }).title).toBe(
      "stored 1 · duplicates 0 · archive 1 records (keeps all)",
    );
  });
});

describe("RateMeter", () => {
  it("counts per second over the last two seconds of samples", () => {
    const rate = new RateMeter();
    expect(rate.perSecond).toBe(0);
    rate.sample(0, 0);
    rate.sample(500, 10);
    expect(rate.perSecond).toBe(20);
    for (let t = 1000; t <= 10_000; t += 500) rate.sample(t, 10 + ((t - 500) / 500) * 2); // 4 a second from then on
    expect(rate.perSecond).toBe(4);
    rate.sample(10_500, 48); // nothing new
    expect(rate.perSecond).toBeLessThan(4);
  });
});

describe("Burst", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reports 29 events that come together as one report with the count, once they stop", () => {
    vi.useFakeTimers();
    const reports: BurstReport[] = [];
    const burst = new Burst((b) => reports.push(b), 1000, 5000);
    for (let i = 0; i < 29; i++) {
      burst.add(`client-${i % 6}`);
      vi.advanceTimersByTime(10);
    }
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([{ count: 29, names: ["client-0", "client-1", "client-2", "client-3"], moreNames: 2 }]);
    expect(burstNames(reports[0] as BurstReport)).toBe("client-0, client-1, client-2, client-3, … 2 more");
    vi.advanceTimersByTime(10_000);
    expect(reports).toHaveLength(1);
  });

  it("reports a burst that goes on every few seconds, and what is pending at flush", () => {
    vi.useFakeTimers();
    const counts: number[] = [];
    const burst = new Burst((b) => counts.push(b.count), 1000, 5000);
    for (let i = 0; i < 60; i++) {
      burst.add();
      vi.advanceTimersByTime(100);
    }
    expect(counts).toEqual([50]);
    burst.flush();
    expect(counts).toEqual([50, 10]);
    burst.flush();
    expect(counts).toEqual([50, 10]);
  });
});
