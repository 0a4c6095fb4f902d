// The roles' live views as data: pure functions of a snapshot.
import { renderView } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import {
  type DeviceSnapshot,
  deviceView,
  type ReceiverRow,
  type ReceiverSnapshot,
  receiverView,
  shortEndpoint,
  type WorkerSnapshot,
  workerView,
} from "../internal/view.ts";

const text = (cell: unknown) => String(typeof cell === "object" && cell !== null ? (cell as { text: unknown }).text : cell);
const tone = (cell: unknown) => (typeof cell === "object" && cell !== null ? (cell as { tone?: string }).tone : undefined);
const lines = (view: Parameters<typeof renderView>[0]) => renderView(view, { width: 200, color: false });

describe("the receiver's view", () => {
  const base: ReceiverSnapshot = {
    front: "tcp://127.0.0.1:5080",
    back: "tcp://127.0.0.1:5081",
    expiryMs: 3000,
    workers: [],
    requests: 12,
    replies: 11,
    dropped: 0,
  };

  it("shows the LRU line in order (next in line first), then busy workers, then the ones it lost", () => {
    const v = receiverView({
      ...base,
      workers: [
        { name: "w-gone", state: "gone", forMs: 2000, readings: 3, heardMs: 2500 },
        { name: "w-busy", state: "busy", forMs: 100, readings: 4, heardMs: 400 },
        { name: "w-second", state: "idle", place: 2, forMs: 50, readings: 2, heardMs: 300 },
        { name: "w-first", state: "idle", place: 1, forMs: 900, readings: 5, heardMs: 100 },
      ],
    });
    expect(v.title).toBe("devices :5080 · workers :5081 · 2 idle, 1 busy, 1 silent or lost");
    expect(v.columns).toEqual(["WORKER", "STATE", "READINGS", "LAST HEARD"]);
    expect(v.rows?.map((r) => r.map(text))).toEqual([
      ["w-first", "idle · next in line", "5", "0.1 s"],
      ["w-second", "idle · 2nd in line", "2", "0.3 s"],
      ["w-busy", "busy 0.1 s", "4", "0.4 s"],
      ["w-gone", "gone 2.0 s ago (disconnected)", "3", "2.5 s"],
    ]);
    expect(v.rows?.map((r) => tone(r[1]))).toEqual(["good", "good", "warn", "bad"]);
    expect(v.summary).toContain("readings routed 12");
  });

  it("says a worker busy past the expiry may be dead (the queue cannot tell), and when devices are not read", () => {
    const v = receiverView({
      ...base,
      workers: [
        { name: "w", state: "busy", forMs: 4200, readings: 1, heardMs: 4500 },
        { name: "x", state: "expired", forMs: 100, readings: 0, heardMs: 3100 },
      ],
    });
    expect(v.title).toBe("devices :5080 · workers :5081 · 0 idle, 0 busy, 2 silent or lost · no idle worker: requests wait");
    expect(text(v.rows?.[0]?.[1])).toBe("busy 4.2 s: silent (slow, or dead)");
    expect(text(v.rows?.[1]?.[1])).toBe("expired 0.1 s ago (silent)");
  });

  it("renders within the screen's width", () => {
    const v = receiverView({
      ...base,
      workers: [{ name: "primary-worker-1-d10b98", state: "idle", place: 1, forMs: 0, readings: 0, heardMs: 0 }],
    });
    expect(lines(v)).toHaveLength(4);
  });
});

describe("the worker's view", () => {
  const base: WorkerSnapshot = {
    queue: "tcp://127.0.0.1:5081",
    identity: "primary-worker-1-d10b98",
    state: "waiting",
    liveness: 3,
    maxLiveness: 3,
    reconnectInMs: 0,
    pauseMs: 0,
    stored: 1234,
    duplicates: 1,
    reconnects: 0,
    dropped: 0,
  };

  it("is one line: idle with its liveness, the queue and identity, what it stored", () => {
    expect(workerView(base)).toEqual({
      title: "idle, liveness 3/3 · :5081 as primary-worker-1-d10b98 · stored 1,234 · duplicates 1 · reconnects 0",
    });
  });

  it("shows the queue going silent, then the pause before it reconnects", () => {
    expect(workerView({ ...base, liveness: 1 }).title).toMatch(/^queue silent: liveness 1\/3 · :5081/);
    expect(workerView({ ...base, state: "storing" }).title).toMatch(/^storing a reading · /);
    expect(workerView({ ...base, state: "paused", reconnectInMs: 3210, pauseMs: 4000, reconnects: 2, dropped: 5 }).title).toBe(
      "queue presumed dead: reconnecting in 3.2 s (pause 4.0 s) · stored 1,234 · duplicates 1 · reconnects 2 · dropped 5",
    );
  });
});

describe("the device's view", () => {
  const primary: ReceiverRow = { endpoint: "tcp://127.0.0.1:5080", circuit: "closed", probeInMs: 0, acked: 40, failed: 0 };
  const backup: ReceiverRow = { endpoint: "tcp://10.0.0.2:5082", circuit: "closed", probeInMs: 0, acked: 0, failed: 0 };
  const receivers = [primary, backup];
  const base: DeviceSnapshot = {
    receivers,
    sending: undefined,
    lastAck: 0,
    timeoutMs: 2500,
    outbox: 0,
    oldest: undefined,
    delivered: 40,
    failovers: 0,
    outboxDropped: 0,
    buffering: false,
  };

  it("shows the outbox, and a row per receiver (primary first) with its circuit and where the readings go", () => {
    const v = deviceView(base);
    expect(v.title).toBe("outbox 0 · delivered 40 · fail-overs 0");
    expect(v.rows?.map((r) => r.map(text))).toEqual([
      ["primary :5080", "circuit closed", "acked 40", "no reply 0", "◀ last ack"],
      ["backup 10.0.0.2:5082", "circuit closed", "acked 0", "no reply 0", ""],
    ]);
  });

  it("during a fail-over: the attempt in flight against the timeout, an open circuit's probe, the oldest reading waiting", () => {
    const v = deviceView({
      ...base,
      receivers: [{ ...primary, circuit: "open", probeInMs: 7200, failed: 3 }, backup],
      sending: { receiver: 1, seq: 57, forMs: 1400 },
      outbox: 4,
      oldest: { seq: 57, ageMs: 4100 },
      failovers: 3,
    });
    expect(v.title).toBe("outbox 4 · oldest seq 57, taken 4.1 s ago · delivered 40 · fail-overs 3");
    const [first, second] = v.rows ?? [];
    expect(text(first?.[1])).toBe("circuit open: probe in 7.2 s");
    expect(tone(first?.[1])).toBe("bad");
    expect(text(first?.[3])).toBe("no reply 3");
    expect(text(first?.[4])).toBe("");
    expect(text(second?.[4])).toBe("◀ sending seq 57 (1.4 s of 2.5 s)");
    expect(tone(second?.[4])).toBe("warn");
  });

  it("with every circuit open it says it is buffering, and counts what a full outbox dropped", () => {
    const v = deviceView({ ...base, buffering: true, outbox: 100, oldest: { seq: 3, ageMs: 60_000 }, outboxDropped: 2 });
    expect(v.title).toBe(
      "every receiver unavailable: buffering · outbox 100 · oldest seq 3, taken 60.0 s ago · 2 dropped (outbox full) · delivered 40 · fail-overs 0",
    );
    const probing = deviceView({ ...base, receivers: [{ ...primary, circuit: "half-open" }, backup] });
    expect(text(probing.rows?.[0]?.[1])).toBe("circuit half-open: next request probes");
  });
});

describe("short endpoints", () => {
  it("drops tcp:// and the loopback host", () => {
    expect(shortEndpoint("tcp://127.0.0.1:5080")).toBe(":5080");
    expect(shortEndpoint("tcp://localhost:5080")).toBe(":5080");
    expect(shortEndpoint("tcp://edge.example:5080")).toBe("edge.example:5080");
    expect(shortEndpoint("ipc:///tmp/x")).toBe("ipc:///tmp/x");
  });
});
