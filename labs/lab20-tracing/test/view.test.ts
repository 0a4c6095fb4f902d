import { describe, expect, it } from "vitest";
import { TraceStore } from "../internal/traces.ts";
import { bar, clientView, collectorView, serviceView, waterfallRows } from "../internal/view.ts";

const T = "4bf92f3577b34da6a3ce929d0e0e4736";
const at = (ms: number): [number, number] => [1_700_000_000, ms * 1_000_000];

describe("views", () => {
  it("a bar covers its span's share of the trace", () => {
    expect(bar(0, 10, 0, 10, 10)).toBe("██████████");
    expect(bar(5, 10, 0, 10, 10)).toBe("·····█████");
    expect(bar(2, 3, 0, 10, 10)).toBe("··█·······");
    expect(bar(10, 10, 0, 10, 10)).toBe("·········█");
  });

  it("the waterfall: a heading per trace, spans indented by depth, orphans in warn", () => {
    const store = new TraceStore(0);
    store.add(
      "gateway",
      [{ traceId: T, spanId: "1111111111111111", name: "gateway forward", kind: 1, start: at(0), end: at(40), status: 0, attrs: {} }],
      0,
    );
    store.add(
      "scorer",
      [
        {
          traceId: T,
          spanId: "2222222222222222",
          parentId: "1111111111111111",
          name: "scorer score",
          kind: 1,
          start: at(10),
          end: at(30),
          status: 0,
          attrs: {},
        },
      ],
      0,
    );
    store.add(
      "lost",
      [
        {
          traceId: T,
          spanId: "3333333333333333",
          parentId: "9999999999999999",
          name: "x",
          kind: 1,
          start: at(20),
          end: at(40),
          status: 0,
          attrs: {},
        },
      ],
      0,
    );
    const rows = waterfallRows(store.sweep(1), 8);
    expect(rows[0]).toEqual([
      { text: "4bf92f35", tone: "warn" },
      { text: "1 orphan(s)", tone: "warn" },
      "40 ms",
      { text: "", tone: "dim" },
    ]);
    expect(rows[1]).toEqual(["", { text: "gateway: gateway forward", tone: undefined }, "40 ms", { text: "████████", tone: "info" }]);
    expect(rows[2]).toEqual(["", { text: "  scorer: scorer score", tone: undefined }, "20 ms", { text: "··████··", tone: "info" }]);
    expect(rows[3]?.[1]).toEqual({ text: "lost: x", tone: "warn" });
  });

  it("collector, service and client views carry their counts", () => {
    const v = collectorView(
      {
        batches: 3,
        spans: 15,
        traces: 3,
        orphanTraces: 1,
        badBatches: 2,
        badSpans: 0,
        producerDrops: { gateway: 7 },
        forwarded: 0,
        forwardDropped: 0,
      },
      [],
      1,
    );
    expect(v.title).toBe("trace collector: 3 traces (1 with orphans), 1 open");
    expect(v.summary).toContain("dropped by the services (side channel full or absent): gateway 7");
    const s = serviceView(
      { stage: "gateway", next: "tcp://x:1", tracing: { enabled: true, sampleRatio: 0.5 } },
      {
        requests: 10,
        replies: 10,
        errors: 0,
        dropped: 0,
        inFlight: 0,
        badTraceparents: 1,
        spans: { batchesSent: 1, spansSent: 20, spansDropped: 0 },
      },
    );
    expect(s.title).toBe("gateway -> tcp://x:1: tracing on, 50 % of new traces sampled");
    expect(s.rows?.[0]?.[6]).toBe(1);
    const c = clientView(
      { gateway: "tcp://g", rate: 3 },
      { sent: 5, ok: 5, failed: 0, decisions: { approve: 4, decline: 1 }, p50: 4, p99: 12 },
    );
    expect(c.rows?.[0]).toEqual(["5", { text: "5", tone: "good" }, { text: 0, tone: undefined }, 4, 0, 1, "4.00 ms", "12 ms"]);
  });
});
