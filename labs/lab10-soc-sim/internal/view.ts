// The roles' live views (pure: computed from their figures, tested in test/view.test.ts).
import type { View, ViewCell } from "@zlabs/kit";
import type { Alert } from "./alert-store.ts";
import type { DetectorStats } from "./detector.ts";
import type { StageStats } from "./event-enricher.ts";
import type { GatewayStats } from "./ingest-gateway.ts";
import type { ServiceRecord } from "./registry.ts";
import type { Rules } from "./rules.ts";

const SEVERITY_TONE = { critical: "bad", high: "bad", medium: "warn", low: "info" } as const;
const HEALTH_TONE = { passing: "good", warning: "warn", critical: "bad" } as const;

export function registryView(records: ServiceRecord[], stats: { requests: number; invalid: number; expired: number }): View {
  return {
    title: `registry: ${records.length} services`,
    columns: ["KEY", "ENDPOINT", "HEALTH"],
    rows: [...records]
      .sort((a, b) => (a.type + a.instance < b.type + b.instance ? -1 : 1))
      .map((r): ViewCell[] => [`/services/${r.type}/${r.instance}`, r.endpoint, { text: r.health, tone: HEALTH_TONE[r.health] }]),
    summary: `${stats.requests} requests · ${stats.expired} leases expired · ${stats.invalid} invalid`,
  };
}

export function gatewayView(s: GatewayStats, instance: string, http: string): View {
  return {
    title: `ingest ${instance}: ${s.rate}/s acknowledged · ${s.inFlight} in flight · POST ${http}/api/events`,
    rows: [
      [
        `http ${s.http}`,
        `zmq ${s.zmq}`,
        `acked ${s.acked}`,
        `p50 ${s.p50.toFixed(1)} ms`,
        `p99 ${s.p99.toFixed(1)} ms`,
        { text: `resent ${s.resent}`, tone: s.resent ? "warn" : "dim" },
        { text: `503 ${s.expired}`, tone: s.expired ? "bad" : "dim" },
        { text: `400 ${s.rejected}`, tone: s.rejected ? "warn" : "dim" },
      ],
    ],
  };
}

export function stageView(stage: string, instance: string, s: StageStats, note: string): View {
  return {
    title: `${stage} ${instance}: ${s.rate}/s · ${s.busy} scoring · ${note}`,
    rows: [
      [
        `in ${s.in}`,
        `out ${s.out}`,
        { text: `dropped ${s.dropped}`, tone: s.dropped ? "warn" : "dim" },
        { text: `malformed ${s.malformed}`, tone: s.malformed ? "warn" : "dim" },
      ],
    ],
  };
}

export function detectorView(instance: string, s: DetectorStats, rules: Pick<Rules, "indicators" | "fired">, broker: string): View {
  const fired = [...rules.fired.entries()].map(([rule, n]) => `${rule} ${n}`).join(" · ");
  return {
    title: `detector ${instance}: ${s.rate}/s · ${rules.indicators.size} indicators · ${broker ? `broker ${broker}` : "no broker yet"}`,
    rows: [[`scored ${s.scored}`, { text: fired || "no rule fired yet", tone: fired ? "warn" : "dim" }]],
  };
}

export function sinkView(
  instance: string,
  s: { events: number; stored: number; duplicates: number; rate: number },
  alerts: Alert[],
  store: string,
): View {
  return {
    title: `alerts (${instance}, store ${store === "memory" ? "memory" : "redis"}): ${s.stored} stored · ${s.duplicates} duplicates · ${s.rate} events/s`,
    columns: ["SEVERITY", "RULE", "SUBJECT", "COUNT", "SUMMARY"],
    rows: alerts
      .slice(0, 6)
      .map((a): ViewCell[] => [
        { text: a.severity, tone: SEVERITY_TONE[a.severity] },
        a.rule,
        a.subject,
        a.count,
        a.summary.length > 60 ? `${a.summary.slice(0, 57)}...` : a.summary,
      ]),
  };
}

export function dashboardView(url: string, services: ServiceRecord[], browsers: number, upstream: number): View {
  const byType = new Map<string, number>();
  for (const r of services) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
  return {
    title: `dashboard ${url} · ${browsers} browsers · ${upstream} updates`,
    rows: [[[...byType.entries()].map(([t, n]) => `${t} ${n}`).join(" · ") || "no services yet"]],
  };
}
