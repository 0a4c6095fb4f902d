// The live views, from snapshots.
import { describe, expect, it } from "vitest";
import { type BrokerSnapshot, brokerView, clientView, workerView } from "../internal/view.ts";

const counts = {
  requests: 10,
  replies: 8,
  mmi: 1,
  expired: 1,
  redispatched: 1,
  failed: 0,
  violations: 2,
  dropped: 3,
  afterDisconnect: 0,
  undeliverable: 0,
  workersExpired: 1,
};

describe("views", () => {
  it("the broker: services sorted, with idle/busy workers and waiting requests; its counts", () => {
    const s: BrokerSnapshot = {
      services: [
        { name: "intel.hash", idle: 1, busy: 0, waiting: 0, oldestWaitMs: undefined, served: 5, expired: 0 },
        { name: "echo", idle: 0, busy: 2, waiting: 3, oldestWaitMs: 6000, served: 3, expired: 1 },
        { name: "nobody", idle: 0, busy: 0, waiting: 1, oldestWaitMs: 1000, served: 0, expired: 0 },
      ],
      counts,
      heartbeatMs: 1000,
      liveness: 3,
      requestExpiryMs: 10_000,
    };
    const v = brokerView(s);
    expect(v.title).toBe("3 services · 3 workers · 4 requests waiting");
    expect(v.rows?.map((r) => r[0])).toEqual(["echo", "intel.hash", "nobody"]);
    expect(v.rows?.[0]?.[1]).toEqual({ text: "0 idle, 2 busy", tone: "warn" });
    expect(v.rows?.[0]?.[2]).toEqual({ text: "3 (oldest 6.0 s)", tone: "bad" });
    expect(v.rows?.[2]?.[1]).toEqual({ text: "none", tone: "bad" });
    expect(v.rows?.[1]?.[2]).toEqual({ text: "0", tone: "dim" });
    expect(String(v.summary)).toContain("sent again after a worker died 1");
  });

  it("a worker and a client: state and counts", () => {
    const w = workerView({ service: "echo", state: "busy", requests: 4, replies: 3, failed: 0, reconnects: 1, disconnects: 1, dropped: 0 });
    expect(w.title).toBe("echo: busy");
    expect(w.rows?.[0]?.[0]).toEqual({ text: "busy", tone: "info" });
    const c = clientView({
      mode: "async",
      sent: 10,
      replies: 9,
      inFlight: 1,
      retries: 0,
      timeouts: 0,
      errors: 1,
      malicious: 2,
      perSecond: 1.5,
    });
    expect(c.title).toBe("asynchronous client · 1.5 replies/s");
    expect(c.rows?.[0]?.[5]).toEqual({ text: "1", tone: "bad" });
  });
});
