// The views as data: the proxy's table and summary, rates over a window, the clients', services'
// and auditor's lines.
import { describe, expect, it } from "vitest";
import type { MonitorCounters } from "../internal/monitored-broker.ts";
import { auditorView, clientView, formatBytes, type ProxySnapshot, proxyView, RateWindow, serviceView } from "../internal/view.ts";

const monitor = (accepted: number, disconnected: number, handshakeFailures = 0): MonitorCounters => ({
  accepted,
  handshakes: accepted,
  handshakeFailures,
  disconnected,
  acceptFailures: 0,
});

function snapshot(over: Partial<ProxySnapshot> = {}): ProxySnapshot {
  return {
    paused: false,
    pausedForMs: 0,
    stats: {
      frontMsgsIn: 10,
      frontBytesIn: 2048,
      frontMsgsOut: 9,
      frontBytesOut: 900,
      backMsgsIn: 9,
      backBytesIn: 900,
      backMsgsOut: 10,
      backBytesOut: 2048,
    },
    peers: [
      { id: Buffer.from("quiet"), requests: 1, requestBytes: 10, replies: 1, replyBytes: 10, lastAt: 0 },
      { id: Buffer.from([0, 1, 2, 3, 4]), requests: 9, requestBytes: 90, replies: 8, replyBytes: 80, lastAt: 9000 },
    ],
    peersForgotten: 0,
    monitor: { front: monitor(3, 1, 2), back: monitor(2, 0), control: monitor(0, 0), capture: monitor(1, 0) },
    capture: { tapSent: 19, tapDropped: 0, subscriptions: 1, fileWritten: 19, fileDropped: 0, fileBytes: 4096, rotations: 0, invalid: 0 },
    tap: "tcp://127.0.0.1:5223",
    file: "/x/audit.jsonl",
    invalidCommands: 0,
    unit: "messages",
    now: 10_000,
    ...over,
  };
}

describe("the proxy's view", () => {
  it("lists clients, busiest last heard first, with rates, totals, bytes and idle time", () => {
    const rates = new RateWindow();
    proxyView(snapshot({ now: 9000, peers: snapshot().peers.map((p) => ({ ...p, requests: p.requests - 1 })) }), rates);
    const view = proxyView(snapshot(), rates);
    expect(view.title).toMatch(/^forwarding · 2 clients · /);
    expect(view.columns).toEqual(["CLIENT", "REQ/S", "REP/S", "REQUESTS", "REPLIES", "BYTES IN", "BYTES OUT", "IDLE"]);
    expect(view.rows?.[0]).toEqual([
      "0x0001020304",
      { text: "1.0", tone: "good" },
      { text: "0.0", tone: "dim" },
      "9",
      { text: "8", tone: "info" },
      "90 B",
      "80 B",
      "1.0 s",
    ]);
    // Silent for 10 s: dimmed.
    expect(view.rows?.[1]?.[0]).toEqual({ text: "quiet", tone: "dim" });
    expect(view.summary).toEqual([
      "STATISTICS (messages) front in 10 / 2.0 KiB · out 9 / 900 B | back in 9 / 900 B · out 10 / 2.0 KiB",
      "monitor front: 3 accepted · 1 disconnected · 2 handshake failures | back: 2 accepted · 0 disconnected",
      "capture tap 1 topic · 19 sent · 0 dropped | file 4.0 KiB · 19 written · 0 dropped · rotated 0",
    ]);
  });

  it("says PAUSED and for how long; replies behind requests turn to a warning then", () => {
    const view = proxyView(snapshot({ paused: true, pausedForMs: 3400 }), new RateWindow());
    expect(view.title).toMatch(/^PAUSED 3\.4 s: messages wait in ZeroMQ's queues/);
    expect(view.rows?.[0]?.[4]).toEqual({ text: "8", tone: "warn" });
  });

  it("shows at most 10 clients and says how many more, and the table's forgotten ones", () => {
    const peers = Array.from({ length: 13 }, (_, i) => ({
      id: Buffer.from(`c${i}`),
      requests: 1,
      requestBytes: 1,
      replies: 1,
      replyBytes: 1,
      lastAt: i,
    }));
    const view = proxyView(snapshot({ peers, peersForgotten: 4, tap: undefined, file: undefined }), new RateWindow());
    expect(view.rows).toHaveLength(10);
    expect(view.rows?.[0]?.[0]).toEqual({ text: "c12", tone: "dim" });
    expect(view.summary?.[0]).toBe("+3 quieter clients · 4 forgotten (table full)");
    expect(view.summary?.[3]).toBe("capture no tap | no file");
  });
});

describe("rates", () => {
  it("is the growth over the window, per second; old samples and silent keys leave", () => {
    const r = new RateWindow(5000);
    expect(r.update("a", 0, [0])).toEqual([0]);
    expect(r.update("a", 1000, [10])).toEqual([10]);
    expect(r.update("a", 2000, [30])).toEqual([15]);
    // Samples older than 5 s go (two are always kept): at 7 s the window starts at 2 s, (40 - 30) / 5.
    expect(r.update("a", 7000, [40])).toEqual([2]);
    // At 8 s only the 7 s sample is left in the window: (48 - 40) / 1.
    expect(r.update("a", 8000, [48])).toEqual([8]);
    r.update("b", 8000, [1]);
    r.prune(14_000);
    expect(r.size).toBe(0);
  });

  it("formats bytes", () => {
    expect([0, 1023, 1024, 1536 * 1024, 3 * 1024 ** 3].map(formatBytes)).toEqual(["0 B", "1023 B", "1.0 KiB", "1.5 MiB", "3.00 GiB"]);
  });
});

describe("the other roles", () => {
  it("a client, a service, an auditor, a stalled auditor", () => {
    expect(
      clientView({ id: "c", sent: 12, replies: 10, resent: 2, errors: 0, perSecond: 1, lastMs: 2.25, waitingMs: 3000, curve: false }),
    ).toEqual({ title: "10 records · 1.0/s · last 2.3 ms · waiting 3.0 s", summary: "sent 12 · sent again after a timeout 2 · errors 0" });
    expect(
      clientView({ id: "c", sent: 1, replies: 0, resent: 0, errors: 0, perSecond: 0, lastMs: undefined, waitingMs: undefined, curve: true })
        .title,
    ).toBe("CURVE against a NULL proxy: 0 records · 0.0/s");
    expect(serviceView({ id: "s", served: 1234, refused: 1, perSecond: 2.5 })).toEqual({
      title: "1,234 lookups served · 2.5/s",
      summary: "refused (malformed) 1",
    });
    const audit = auditorView({
      stalled: false,
      captured: { "fe>be": 5, "be>fe": 4 },
      missed: { "fe>be": 0, "be>fe": 2 },
      invalid: 0,
      perSecond: 3,
    });
    expect(audit.title).toBe("9 messages captured · 3.0/s");
    expect(audit.rows?.[1]).toEqual(["be>fe replies", "4", { text: "2", tone: "bad" }]);
    expect(audit.summary).toBe("gaps: the tap dropped messages for a full subscriber · invalid 0");
    expect(
      auditorView({ stalled: true, captured: { "fe>be": 0, "be>fe": 0 }, missed: { "fe>be": 0, "be>fe": 0 }, invalid: 0, perSecond: 0 })
        .title,
    ).toMatch(/^stalled/);
  });
});
