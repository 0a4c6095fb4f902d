// What each role shows on the demo screen: pure functions of its state, tested without sockets.
import { formatCount, type View, type ViewCell } from "@zlabs/kit";
import { hrMs } from "./protocol.ts";
import { depths, type Trace, traceStartEnd } from "./traces.ts";

/** How often a role publishes its view. */
export const VIEW_MS = 500;
/** Width of a waterfall bar, characters. */
export const BAR_WIDTH = 32;

/** A bar of `width` characters: dots, then '█' from the span's start to its end within the trace. */
export function bar(startMs: number, endMs: number, traceStart: number, traceEnd: number, width = BAR_WIDTH): string {
  const total = Math.max(traceEnd - traceStart, 1e-6);
  const from = Math.min(width - 1, Math.max(0, Math.floor(((startMs - traceStart) / total) * width)));
  const to = Math.min(width, Math.max(from + 1, Math.ceil(((endMs - traceStart) / total) * width)));
  return "·".repeat(from) + "█".repeat(to - from) + "·".repeat(width - to);
}

const ms = (x: number) => (x >= 10 ? `${x.toFixed(0)} ms` : `${x.toFixed(2)} ms`);

/** Rows of the waterfall: per trace a heading row, then its spans, indented by depth, with bars. */
export function waterfallRows(traces: Trace[], width = BAR_WIDTH): ViewCell[][] {
  const rows: ViewCell[][] = [];
  for (const t of traces) {
    const { startMs, endMs } = traceStartEnd(t);
    const orphan = t.orphans.length > 0;
    rows.push([
      { text: t.traceId.slice(0, 8), tone: orphan ? "warn" : "bold" },
      { text: orphan ? `${t.orphans.length} orphan(s)` : `${t.spans.length} spans`, tone: orphan ? "warn" : "dim" },
      ms(endMs - startMs),
      { text: "", tone: "dim" },
    ]);
    const d = depths(t);
    const orphanIds = new Set(t.orphans.map((s) => s.spanId));
    for (const s of t.spans) {
      const sStart = hrMs(s.start);
      const sEnd = hrMs(s.end);
      rows.push([
        "",
        {
          text: `${"  ".repeat(d.get(s.spanId) ?? 0)}${s.service}: ${s.name}`,
          tone: orphanIds.has(s.spanId) ? "warn" : s.status === 2 ? "bad" : undefined,
        },
        ms(sEnd - sStart),
        { text: bar(sStart, sEnd, startMs, endMs, width), tone: s.status === 2 ? "bad" : "info" },
      ]);
    }
  }
  return rows;
}

/** What the collector counts (its view shows these). */
export interface CollectorSnapshotStats {
  batches: number;
  spans: number;
  traces: number;
  orphanTraces: number;
  badBatches: number;
  badSpans: number;
  /** The producers' own running totals of dropped spans, by service. */
  producerDrops: Record<string, number>;
  forwarded: number;
  forwardDropped: number;
}

export function collectorView(s: CollectorSnapshotStats, recent: Trace[], open: number): View {
  const drops = Object.entries(s.producerDrops)
    .map(([k, v]) => `${k} ${formatCount(v)}`)
    .join(", ");
  return {
    title: `trace collector: ${formatCount(s.traces)} traces (${s.orphanTraces} with orphans), ${open} open`,
    columns: ["trace", "span", "took", "waterfall"],
    rows: waterfallRows(recent.slice(0, 2)),
    summary: [
      `${formatCount(s.spans)} spans in ${formatCount(s.batches)} batches; malformed: ${s.badBatches} batches, ${s.badSpans} spans`,
      `dropped by the services (side channel full or absent): ${drops || "none"}`,
      ...(s.forwarded + s.forwardDropped > 0
        ? [`OTLP/HTTP: ${formatCount(s.forwarded)} traces forwarded, ${s.forwardDropped} dropped`]
        : []),
    ],
  };
}

export interface ServiceViewConfig {
  stage: string;
  next?: string;
  tracing: { enabled: boolean; sampleRatio: number };
}

export interface ServiceViewStats {
  requests: number;
  replies: number;
  errors: number;
  dropped: number;
  inFlight: number;
  badTraceparents: number;
  spans: { batchesSent: number; spansSent: number; spansDropped: number };
}

export function serviceView(c: ServiceViewConfig, s: ServiceViewStats): View {
  const tracing = c.tracing.enabled ? `tracing on, ${Math.round(c.tracing.sampleRatio * 100)} % of new traces sampled` : "tracing off";
  return {
    title: `${c.stage}${c.next ? ` -> ${c.next}` : " (last stage)"}: ${tracing}`,
    columns: ["requests", "replies", "errors", "in flight", "spans sent", "spans dropped", "bad traceparent"],
    rows: [
      [
        formatCount(s.requests),
        formatCount(s.replies),
        { text: s.errors, tone: s.errors > 0 ? "warn" : undefined },
        s.inFlight,
        formatCount(s.spans.spansSent),
        { text: formatCount(s.spans.spansDropped), tone: s.spans.spansDropped > 0 ? "warn" : "good" },
        s.badTraceparents,
      ],
    ],
  };
}

export function clientView(
  c: { gateway: string; rate: number },
  s: { sent: number; ok: number; failed: number; decisions: Record<string, number>; p50: number; p99: number },
): View {
  const d = (k: string) => s.decisions[k] ?? 0;
  return {
    title: `load client: ${c.rate}/s to ${c.gateway}`,
    columns: ["sent", "ok", "failed", "approve", "review", "decline", "p50", "p99"],
    rows: [
      [
        formatCount(s.sent),
        { text: formatCount(s.ok), tone: "good" },
        { text: s.failed, tone: s.failed > 0 ? "bad" : undefined },
        d("approve"),
        d("review"),
        d("decline"),
        Number.isNaN(s.p50) ? "-" : ms(s.p50),
        Number.isNaN(s.p99) ? "-" : ms(s.p99),
      ],
    ],
  };
}
