// The live views are pure functions of the roles' figures.
import { describe, expect, it } from "vitest";
import type { Alert } from "../internal/alert-store.ts";
import { dashboardView, detectorView, gatewayView, registryView, sinkView, stageView } from "../internal/view.ts";

const rec = (type: string, instance: string, health: "passing" | "critical" = "passing") => ({
  type,
  instance,
  endpoint: `tcp://127.0.0.1:1`,
  health,
  meta: {},
});

describe("views", () => {
  it("the registry lists keys sorted, health coloured", () => {
    const v = registryView([rec("sensor", "s1"), rec("detector", "d1", "critical")], { requests: 5, invalid: 1, expired: 2 });
    expect(v.title).toBe("registry: 2 services");
    expect(v.rows?.map((r) => r[0])).toEqual(["/services/detector/d1", "/services/sensor/s1"]);
    expect(v.rows?.[0]?.[2]).toEqual({ text: "critical", tone: "bad" });
    expect(v.summary).toBe("5 requests · 2 leases expired · 1 invalid");
  });

  it("the gateway shows acknowledged rate, latency and refusals", () => {
    const v = gatewayView(
      { http: 3, zmq: 4, acked: 7, resent: 1, expired: 0, rejected: 2, malformed: 0, inFlight: 1, rate: 7, p50: 1.25, p99: 9 },
      "gw",
      "http://h:1",
    );
    expect(v.title).toBe("ingest gw: 7/s acknowledged · 1 in flight · POST http://h:1/api/events");
    expect(v.rows?.[0]).toContain("p50 1.3 ms");
    expect(v.rows?.[0]).toContainEqual({ text: "400 2", tone: "warn" });
  });

  it("a stage, a detector, the sink and the dashboard", () => {
    expect(stageView("enricher", "e1", { in: 2, out: 1, dropped: 1, malformed: 0, busy: 1, rate: 1 }, "broker x").title).toBe(
      "enricher e1: 1/s · 1 scoring · broker x",
    );
    const d = detectorView(
      "d1",
      { scored: 9, invalid: 0, indicatorsIn: 7, badIndicators: 0, rate: 3 },
      { indicators: new Map([["ip:1", {} as never]]), fired: new Map([["port-scan", 2]]) },
      "",
    );
    expect(d.title).toBe("detector d1: 3/s · 1 indicators · no broker yet");
    expect(d.rows?.[0]?.[1]).toEqual({ text: "port-scan 2", tone: "warn" });
    const a: Alert = {
      severity: "critical",
      rule: "intel-match",
      subject: "203.0.113.66",
      summary: "s",
      eventId: "e",
      firstSeen: 1,
      lastSeen: 2,
      count: 4,
    };
    const s = sinkView("sink", { events: 10, stored: 1, duplicates: 3, rate: 2 }, [a], "memory");
    expect(s.rows?.[0]).toEqual([{ text: "critical", tone: "bad" }, "intel-match", "203.0.113.66", 4, "s"]);
    expect(dashboardView("http://x/", [rec("sensor", "a"), rec("sensor", "b")], 1, 5).rows).toEqual([["sensor 2"]]);
  });
});
