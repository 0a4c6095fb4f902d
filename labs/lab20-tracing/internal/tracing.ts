// Spans made with the OpenTelemetry API and SDK (BasicTracerProvider, a ParentBased sampler), their
// context carried in a W3C Trace Context traceparent frame (parsed strictly once, formatted from
// the span's context); exported by a SpanExporter of ours that pushes MessagePack batches of
// fixed-size span records to the collector over a PUSH socket that never blocks.
import { type Context, DiagLogLevel, diag, ROOT_CONTEXT, type Span, SpanKind, type Tracer, trace } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import type { Logger } from "@zlabs/kit";
import { Push } from "zeromq";
import {
  type Attributes,
  BatchWriter,
  formatTraceParent,
  MAX_ATTR_TEXT,
  MAX_ATTRS,
  MAX_NAME,
  MAX_SPANS_PER_BATCH,
  parseTraceParent,
} from "./protocol.ts";

/** The side channel's send high-water mark, in batches: beyond it a batch is dropped, never queued. */
export const SIDE_SNDHWM = 64;
/** Batches waiting for the one outstanding send (zeromq.js allows one send at a time): beyond, dropped. */
export const EXPORT_QUEUE_BATCHES = 8;
/** How often the batch span processor flushes, ms. */
export const FLUSH_MS = 200;
/**
 * Spans per batch handed to the exporter at most (a full batch goes at once, not at the next flush):
 * one send and one receive per 256 spans, and the encoding of a batch still short (the records are
 * written at a microsecond or two a span), so no request waits long behind it on the event loop.
 */
export const EXPORT_BATCH_SPANS = 256;
/** Ended spans held for the next batch at most; beyond, dropped and counted. */
export const SPAN_QUEUE = 2048;

export interface ExporterStats {
  batchesSent: number;
  spansSent: number;
  /** Spans dropped: side channel full or absent, export queue full, or the SDK's queue full. */
  spansDropped: number;
}

/** A span's attributes, bounded (MAX_ATTRS, text cut at MAX_ATTR_TEXT); null when it has none. */
function boundedAttrs(attributes: ReadableSpan["attributes"]): Attributes | null {
  const out: Attributes = {};
  let n = 0;
  for (const k in attributes) {
    const v = attributes[k];
    if (typeof v === "string") out[k] = v.length > MAX_ATTR_TEXT ? v.slice(0, MAX_ATTR_TEXT) : v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = v;
    else continue;
    n += 1;
    if (n >= MAX_ATTRS) break;
  }
  return n > 0 ? out : null;
}

/**
 * One batch frame of spans, written straight from the SDK's spans (no intermediate objects), and
 * how many of them it holds (a span past the batch's name table is left out: the caller counts it).
 */
export function batchFrame(service: string, dropped: number, spans: ReadableSpan[]): { frame: Buffer; spans: number } {
  const w = new BatchWriter(spans.length);
  for (const s of spans) {
    const ctx = s.spanContext();
    const name = s.name.length > MAX_NAME ? s.name.slice(0, MAX_NAME) : s.name;
    w.add(
      ctx.traceId,
      ctx.spanId,
      s.parentSpanContext?.spanId,
      name,
      s.kind,
      s.startTime,
      s.endTime,
      s.status.code,
      boundedAttrs(s.attributes),
    );
  }
  return { frame: w.frame(service, dropped), spans: w.count };
}

/**
 * A SpanExporter that never blocks and never queues without bound. export() encodes the batch and
 * returns at once; one send is outstanding at a time on a PUSH with sendTimeout 0 (EAGAIN at the
 * high-water mark means drop) and `immediate` (no queue for a collector not connected). Batches
 * waiting for that send are bounded by EXPORT_QUEUE_BATCHES; every span that does not go is counted.
 */
export class ZmqSpanExporter implements SpanExporter {
  readonly push: Push;
  readonly stats: ExporterStats = { batchesSent: 0, spansSent: 0, spansDropped: 0 };
  private readonly queue: { frame: Buffer; spans: number }[] = [];
  private sending = false;
  private closed = false;

  constructor(
    private readonly service: string,
    collector: string,
    private readonly log: Logger,
    hwm = SIDE_SNDHWM,
    sendBufferSize?: number,
  ) {
    this.push = new Push({
      linger: 0,
      sendHighWaterMark: hwm,
      sendTimeout: 0,
      immediate: true,
      ...(sendBufferSize ? { sendBufferSize } : {}),
    });
    this.push.connect(collector);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    // A socket that cannot take a message now (collector absent: `immediate`; or at the high-water
    // mark: collector slow or stalled) would refuse the batch: drop it before spending the encoding.
    const open = !this.closed && this.push.writable;
    for (let i = 0; i < spans.length; i += MAX_SPANS_PER_BATCH) {
      const part = spans.slice(i, i + MAX_SPANS_PER_BATCH);
      if (!open || this.queue.length >= EXPORT_QUEUE_BATCHES) {
        this.stats.spansDropped += part.length;
        continue;
      }
      const batch = batchFrame(this.service, this.stats.spansDropped, part);
      this.stats.spansDropped += part.length - batch.spans;
      if (batch.spans > 0) this.queue.push(batch);
    }
    if (!this.sending) void this.pump();
    // Always success: a drop is ours to count, not the SDK's to retry.
    done({ code: ExportResultCode.SUCCESS });
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      for (let next = this.queue.shift(); next && !this.closed; next = this.queue.shift()) {
        try {
          await this.push.send(next.frame);
          this.stats.batchesSent += 1;
          this.stats.spansSent += next.spans;
        } catch (err) {
          this.stats.spansDropped += next.spans;
          const code = (err as { code?: string }).code;
          if (code !== "EAGAIN" && !this.closed) this.log.warn({ err }, "span batch not sent");
        }
      }
    } finally {
      this.sending = false;
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    this.stats.spansDropped += this.queue.reduce((n, b) => n + b.spans, 0);
    this.queue.length = 0;
    this.push.close();
  }

  async forceFlush(): Promise<void> {}
}

/**
 * The SDK's SpanProcessor for our exporter: ended (sampled) spans gathered in a bounded buffer and
 * handed over every flush interval or as soon as a batch is full. onEnd is a push and a length
 * check: nothing on the request path waits. (The SDK's BatchSpanProcessor would do the same, but
 * its queue-full drops are only logged, not counted.)
 */
export class BoundedBatchProcessor implements SpanProcessor {
  private buffer: ReadableSpan[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly exporter: ZmqSpanExporter,
    flushMs: number,
    private readonly maxQueue = SPAN_QUEUE,
  ) {
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.buffer.length >= this.maxQueue) {
      this.exporter.stats.spansDropped += 1;
      return;
    }
    this.buffer.push(span);
    if (this.buffer.length >= EXPORT_BATCH_SPANS) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const spans = this.buffer;
    this.buffer = [];
    this.exporter.export(spans, () => {});
  }

  async forceFlush(): Promise<void> {
    this.flush();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    await this.exporter.shutdown();
  }
}

export interface TracingConfig {
  service: string;
  /** The collector's PULL endpoint. */
  collector: string;
  /** Tracing on or off: off makes no spans (and no side channel). */
  enabled: boolean;
  /** The ratio of new traces (started here, as roots) sampled; a parent's decision always wins. */
  sampleRatio: number;
  flushMs: number;
  /** The side channel's SNDHWM in batches, and its kernel send buffer (bytes; 0: the system's). */
  sideHwm: number;
  sideSndbuf: number;
}

/**
 * The time spans start and end at, ms since the epoch: the process's monotonic clock from its one
 * wall-clock origin. (Left to itself the SDK starts a span at Date.now() and ends it by the monotonic
 * time since: a process descheduled between those two readings, as on a loaded machine, makes a span
 * that ends too early, a parent that ends before its child in another process.)
 */
export const spanClock = (): number => performance.timeOrigin + performance.now();

/** The sampler for root spans: the SDK's ratio sampler, or always on / off at the ends (no per-trace work). */
function rootSampler(ratio: number) {
  if (ratio >= 1) return new AlwaysOnSampler();
  if (ratio <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

/**
 * A service's tracing: its tracer, the extract/inject of traceparent, and the exporter's counts.
 */
export class Tracing {
  readonly tracer: Tracer;
  readonly exporter?: ZmqSpanExporter;
  private readonly provider: BasicTracerProvider;
  /** Requests whose traceparent frame was present but invalid: they started a new trace. */
  badTraceparents = 0;

  constructor(
    readonly config: TracingConfig,
    log: Logger,
  ) {
    const sampler = config.enabled ? new ParentBasedSampler({ root: rootSampler(config.sampleRatio) }) : new AlwaysOffSampler();
    if (config.enabled) this.exporter = new ZmqSpanExporter(config.service, config.collector, log, config.sideHwm, config.sideSndbuf);
    const exporter = this.exporter;
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": config.service }),
      sampler,
      spanProcessors: exporter ? [new BoundedBatchProcessor(exporter, config.flushMs)] : [],
    });
    this.tracer = this.provider.getTracer("lab20");
    diag.setLogger(
      {
        error: (m: string) => log.error({ otel: m }, "opentelemetry error"),
        warn: (m: string) => log.warn({ otel: m }, "opentelemetry warning"),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }

  /**
   * The context a request arrived with. The frame is checked strictly first (parseTraceParent);
   * a bad one is counted and the request starts a new trace, as the W3C spec says.
   */
  extract(frame: Buffer): Context {
    if (frame.length === 0) return ROOT_CONTEXT;
    const tp = parseTraceParent(frame);
    if (!tp.ok) {
      this.badTraceparents += 1;
      return ROOT_CONTEXT;
    }
    const { traceId, spanId, flags } = tp.value;
    return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: flags, isRemote: true });
  }

  /** The traceparent frame for a request sent on behalf of `span` (empty when there is no context). */
  inject(span: Span): Buffer {
    const ctx = span.spanContext();
    if (!trace.isSpanContextValid(ctx)) return Buffer.alloc(0);
    return Buffer.from(formatTraceParent({ traceId: ctx.traceId, spanId: ctx.spanId, flags: ctx.traceFlags }), "latin1");
  }

  server(name: string, parent: Context): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: spanClock() }, parent);
  }

  client(name: string, parent: Span): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: spanClock() }, trace.setSpan(ROOT_CONTEXT, parent));
  }

  /** Ends a span at spanClock()'s time (as it started): its duration exact, its place in the trace too. */
  end(span: Span): void {
    span.end(spanClock());
  }

  get stats(): ExporterStats {
    return this.exporter?.stats ?? { batchesSent: 0, spansSent: 0, spansDropped: 0 };
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
  }
}
