import { appendFileSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Pull } from "zeromq";
import { fromProducer, MAX_BATCH_BYTES } from "./protocol.ts";
import { type Trace, TraceStore, toOtlp } from "./traces.ts";
import { type CollectorSnapshotStats, collectorView, VIEW_MS } from "./view.ts";

/** How often settled traces are swept, written and forwarded, ms. */
export const SWEEP_MS = 250;
/** Recent traces kept for the waterfall. */
export const RECENT_TRACES = 4;
/** OTLP JSON files: rotated past this size, this many kept. */
export const FILE_MAX_BYTES = 1024 * 1024;
export const FILES_KEPT = 5;
/** Traces waiting for the OTLP/HTTP endpoint at most; beyond, dropped and counted. */
export const FORWARD_QUEUE = 1000;
export const FORWARD_TIMEOUT_MS = 3000;
/**
 * 'trace complete' lines per second at most (one per trace at the demo's pace); past it, under
 * load, the traces are counted and told in one 'traces complete, not logged one by one' line a second.
 */
export const TRACE_LINES_PER_S = 5;

export interface CollectorConfig {
  bind: string;
  settleMs: number;
  /** Folder of the OTLP JSON files (none: no files). */
  dir?: string;
  fileMaxBytes: number;
  filesKept: number;
  /** The PULL's kernel receive buffer, bytes (0: the system's). */
  rcvbuf: number;
  /** OTLP/HTTP endpoint base (http://host:4318) or full /v1/traces URL; none: no forwarding. */
  otlpUrl?: string;
}

export interface CollectorStats extends CollectorSnapshotStats {
  forwardErrors: number;
  filesWritten: number;
}

export function otlpTracesUrl(base: string): string {
  const u = new URL(base);
  if (!u.pathname.endsWith("/v1/traces")) u.pathname = `${u.pathname.replace(/\/$/, "")}/v1/traces`;
  return u.toString();
}

/**
 * The collector: a PULL for span batches from every service. Spans are gathered per trace; a
 * trace quiet for the settle window is settled (orphans flagged: a parent never seen), shown in
 * the waterfall, appended to the OTLP JSON file, and forwarded to an OTLP/HTTP endpoint if set.
 */
export class TraceCollector {
  private readonly pull: Pull;
  private readonly store: TraceStore;
  readonly recent: Trace[] = [];
  readonly endpoints = { bind: "" };
  readonly loop: LoopStats = { received: 0, failed: 0 };
  readonly stats: CollectorStats = {
    batches: 0,
    spans: 0,
    traces: 0,
    orphanTraces: 0,
    badBatches: 0,
    badSpans: 0,
    producerDrops: {},
    forwarded: 0,
    forwardDropped: 0,
    forwardErrors: 0,
    filesWritten: 0,
  };
  private readonly forwardQueue: Trace[] = [];
  private forwarding = false;
  private readonly url?: string;
  /** The 'trace complete' lines of the current second, and the traces not logged one by one. */
  private readonly lines = { since: 0, logged: 0, quiet: 0 };

  constructor(
    private readonly config: CollectorConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.pull = new Pull({ linger: 0, ...peerLimits(MAX_BATCH_BYTES), ...(config.rcvbuf ? { receiveBufferSize: config.rcvbuf } : {}) });
    this.store = new TraceStore(config.settleMs);
    this.url = config.otlpUrl ? otlpTracesUrl(config.otlpUrl) : undefined;
    if (config.dir) mkdirSync(config.dir, { recursive: true });
  }

  async run(signal: AbortSignal): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { bind: [this.pull, this.config.bind] }));
    const log = this.log;
    const publish = this.publish;
    await runLoops(
      signal,
      {
        sockets: [this.pull],
        every: [
          {
            ms: SWEEP_MS,
            run: () => {
              const now = performance.now();
              this.settled(this.store.sweep(now));
              this.rollLines(now);
            },
          },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(collectorView(this.stats, this.recent, this.store.openCount)) }] : []),
        ],
        log,
      },
      () => receiveLoop(this.pull, signal, (frames) => this.onBatch(frames), { log, name: "spans", stats: this.loop }),
    );
  }

  private onBatch(frames: Buffer[]): void {
    const msg = fromProducer(frames);
    if (msg.kind === "invalid") {
      this.stats.badBatches += 1;
      this.log.warn({ reason: msg.reason, dropped: this.stats.badBatches }, "malformed span batch dropped");
      return;
    }
    const { batch, bad } = msg;
    this.stats.batches += 1;
    this.stats.spans += batch.spans.length;
    if (bad > 0) {
      this.stats.badSpans += bad;
      this.log.warn({ service: batch.service, bad }, "malformed spans dropped");
    }
    // The producer's running total; a bounded map (a service name is at most 64 characters, 64 services).
    if (batch.service in this.stats.producerDrops || Object.keys(this.stats.producerDrops).length < 64) {
      const before = this.stats.producerDrops[batch.service] ?? 0;
      if (batch.dropped > before) this.log.info({ service: batch.service, dropped: batch.dropped }, "the service reports dropped spans");
      this.stats.producerDrops[batch.service] = batch.dropped;
    }
    this.settled(this.store.add(batch.service, batch.spans, performance.now()));
  }

  private settled(traces: Trace[]): void {
    if (traces.length === 0) return;
    for (const t of traces) {
      this.stats.traces += 1;
      if (t.orphans.length > 0) {
        this.stats.orphanTraces += 1;
        this.log.warn({ trace: t.traceId, orphans: t.orphans.map((s) => `${s.service}:${s.name}`) }, "trace with orphan spans");
      } else if (this.mayLogTrace()) {
        this.log.info({ trace: t.traceId, spans: t.spans.length }, "trace complete");
      }
    }
    this.recent.unshift(...traces.slice(-RECENT_TRACES).reverse());
    this.recent.length = Math.min(this.recent.length, RECENT_TRACES);
    if (this.config.dir) this.write(traces);
    if (this.url) {
      for (const t of traces) {
        if (this.forwardQueue.length >= FORWARD_QUEUE) this.stats.forwardDropped += 1;
        else this.forwardQueue.push(t);
      }
      if (!this.forwarding) void this.forward();
    }
  }

  /** A new second for the 'trace complete' lines: the traces not logged one by one in the last are told. */
  private rollLines(nowMs: number): void {
    const w = this.lines;
    if (nowMs - w.since < 1000) return;
    if (w.quiet > 0) this.log.info({ traces: w.quiet }, "traces complete, not logged one by one");
    w.since = nowMs;
    w.logged = 0;
    w.quiet = 0;
  }

  /** Whether a 'trace complete' line may go now (TRACE_LINES_PER_S a second); else the trace is counted. */
  private mayLogTrace(): boolean {
    const w = this.lines;
    this.rollLines(performance.now());
    if (w.logged < TRACE_LINES_PER_S) {
      w.logged += 1;
      return true;
    }
    w.quiet += 1;
    return false;
  }

  /** One JSON line per sweep (an ExportTraceServiceRequest), as the OpenTelemetry Collector's file exporter writes. */
  private write(traces: Trace[]): void {
    const dir = this.config.dir as string;
    const file = join(dir, "traces.jsonl");
    try {
      appendFileSync(file, `${JSON.stringify(toOtlp(traces))}\n`);
      if (statSync(file).size > this.config.fileMaxBytes) {
        rmSync(join(dir, `traces.${this.config.filesKept - 1}.jsonl`), { force: true });
        for (let i = this.config.filesKept - 2; i >= 1; i--) {
          try {
            renameSync(join(dir, `traces.${i}.jsonl`), join(dir, `traces.${i + 1}.jsonl`));
          } catch {}
        }
        renameSync(file, join(dir, "traces.1.jsonl"));
        this.stats.filesWritten += 1;
      }
    } catch (err) {
      this.log.error({ err }, "OTLP file not written");
    }
  }

  private async forward(): Promise<void> {
    this.forwarding = true;
    try {
      while (this.forwardQueue.length > 0) {
        const traces = this.forwardQueue.splice(0, 100);
        try {
          const res = await fetch(this.url as string, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(toOtlp(traces)),
            signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
          });
          await res.arrayBuffer().catch(() => {});
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          this.stats.forwarded += traces.length;
        } catch (err) {
          this.stats.forwardErrors += 1;
          this.stats.forwardDropped += traces.length;
          this.log.warn({ url: this.url, err: (err as Error).message, traces: traces.length }, "OTLP forward failed");
        }
      }
    } finally {
      this.forwarding = false;
    }
  }
}
