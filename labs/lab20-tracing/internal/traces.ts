// Trace assembly (spans from every service gathered by trace id until the trace settles), orphan
// detection, and the OTLP/JSON form of a trace. Pure: the collector feeds it and sweeps it.
import { hrCompare, hrMs, hrNanos, type WireSpan } from "./protocol.ts";

/** A trace settles once no span of it arrived for this long; then its orphans are flagged. */
export const SETTLE_MS = 2000;
/** Open traces at most; beyond, the oldest is settled early. */
export const MAX_OPEN_TRACES = 2000;
/** Spans kept per trace; beyond, dropped and counted. */
export const MAX_SPANS_PER_TRACE = 256;

export interface CollectedSpan extends WireSpan {
  service: string;
}

export interface Trace {
  traceId: string;
  spans: CollectedSpan[];
  /** Spans whose parent was never seen within the window. */
  orphans: CollectedSpan[];
  /** Spans without a parent. */
  roots: number;
}

interface Open {
  spans: CollectedSpan[];
  lastMs: number;
}

/** Whether one of the spans has this id: a look along the list (a trace holds a few spans, at most MAX_SPANS_PER_TRACE). */
function holds(spans: CollectedSpan[], spanId: string): boolean {
  for (const s of spans) if (s.spanId === spanId) return true;
  return false;
}

export class TraceStore {
  private readonly open = new Map<string, Open>();
  spansDropped = 0;

  constructor(
    private readonly settleMs = SETTLE_MS,
    private readonly maxOpen = MAX_OPEN_TRACES,
    private readonly maxSpans = MAX_SPANS_PER_TRACE,
  ) {}

  get openCount(): number {
    return this.open.size;
  }

  /** Adds spans (each gets its `service`: they become the store's); returns traces settled early because too many were open. */
  add(service: string, spans: WireSpan[], nowMs: number): Trace[] {
    const early: Trace[] = [];
    for (const s of spans) {
      let t = this.open.get(s.traceId);
      if (!t) {
        if (this.open.size >= this.maxOpen) {
          const [oldest, o] = this.open.entries().next().value as [string, Open];
          this.open.delete(oldest);
          early.push(settle(oldest, o));
        }
        t = { spans: [], lastMs: nowMs };
        this.open.set(s.traceId, t);
      }
      if (t.spans.length >= this.maxSpans || holds(t.spans, s.spanId)) {
        this.spansDropped += 1;
        continue;
      }
      // The span as it came from the batch, its service added (no copy: the decoder made it for us).
      const c = s as CollectedSpan;
      c.service = service;
      t.spans.push(c);
      t.lastMs = nowMs;
    }
    return early;
  }

  /** The traces quiet for the window, settled: removed from the store, orphans flagged. */
  sweep(nowMs: number): Trace[] {
    const done: Trace[] = [];
    for (const [id, t] of this.open) {
      if (nowMs - t.lastMs < this.settleMs) continue;
      this.open.delete(id);
      done.push(settle(id, t));
    }
    return done;
  }
}

function settle(traceId: string, t: Open): Trace {
  const spans = t.spans.sort((a, b) => hrCompare(a.start, b.start));
  const ids = spans.length > 16 ? new Set(spans.map((s) => s.spanId)) : undefined;
  const known = (id: string) => (ids ? ids.has(id) : holds(spans, id));
  const orphans = spans.filter((s) => s.parentId !== undefined && !known(s.parentId));
  return { traceId, spans, orphans, roots: spans.filter((s) => s.parentId === undefined).length };
}

/** Each span's depth under its parents (an orphan counts as depth 0). */
export function depths(trace: Trace): Map<string, number> {
  const byId = new Map(trace.spans.map((s) => [s.spanId, s]));
  const out = new Map<string, number>();
  const depth = (s: CollectedSpan, guard: number): number => {
    const known = out.get(s.spanId);
    if (known !== undefined) return known;
    const parent = s.parentId ? byId.get(s.parentId) : undefined;
    const d = parent && guard < 64 ? depth(parent, guard + 1) + 1 : 0;
    out.set(s.spanId, d);
    return d;
  };
  for (const s of trace.spans) depth(s, 0);
  return out;
}

export function traceStartEnd(trace: Trace): { startMs: number; endMs: number } {
  let startMs = Number.POSITIVE_INFINITY;
  let endMs = 0;
  for (const s of trace.spans) {
    startMs = Math.min(startMs, hrMs(s.start));
    endMs = Math.max(endMs, hrMs(s.end));
  }
  return { startMs, endMs };
}

// --- OTLP/JSON (opentelemetry-proto, JSON encoding: ids as hex, times as decimal strings) ---------

type OtlpValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function otlpValue(v: string | number | boolean): OtlpValue {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

/** One ExportTraceServiceRequest holding the traces, a resourceSpans per service. */
export function toOtlp(traces: Trace[]): { resourceSpans: unknown[] } {
  const byService = new Map<string, CollectedSpan[]>();
  for (const t of traces)
    for (const s of t.spans) {
      const list = byService.get(s.service) ?? [];
      list.push(s);
      byService.set(s.service, list);
    }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeSpans: [
        {
          scope: { name: "lab20" },
          spans: spans.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentId ? { parentSpanId: s.parentId } : {}),
            name: s.name,
            // OTLP's SpanKind is the API's plus one (0 is UNSPECIFIED).
            kind: s.kind + 1,
            startTimeUnixNano: hrNanos(s.start).toString(),
            endTimeUnixNano: hrNanos(s.end).toString(),
            attributes: Object.entries(s.attrs).map(([key, v]) => ({ key, value: otlpValue(v) })),
            status: { code: s.status },
          })),
        },
      ],
    })),
  };
}
