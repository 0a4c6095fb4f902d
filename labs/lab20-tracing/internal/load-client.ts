import { type Logger, peerLimits, receiveLoop, runLoops, SendQueue, seededRandom, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { decodeVerdict, encodeRequest, MAX_REQUEST_BYTES, type Transaction, type Verdict } from "./protocol.ts";
import { clientView, VIEW_MS } from "./view.ts";

export const REQUEST_TIMEOUT_MS = 3000;
/** Latencies kept for the percentiles (the most recent ones). */
export const LATENCY_WINDOW = 2000;

/**
 * A DEALER to the gateway with many requests in flight, matched to replies by id. Untraced itself:
 * it sends the traceparent frame it is given (empty by default), so the gateway is the root.
 */
export class ChainClient {
  readonly socket = new Dealer({ linger: 0, ...peerLimits(MAX_REQUEST_BYTES) });
  private readonly out = new SendQueue(this.socket);
  private readonly waiting = new Map<number, { resolve: (v: Verdict) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  malformed = 0;

  constructor(gateway: string) {
    this.socket.connect(gateway);
  }

  /** Receives replies until the signal aborts (or the socket closes). */
  listen(signal: AbortSignal, log: Logger): Promise<void> {
    return receiveLoop(
      this.socket,
      signal,
      (frames) => {
        const v = decodeVerdict(frames);
        if (!v.ok) {
          this.malformed += 1;
          return;
        }
        const w = this.waiting.get(v.value.id);
        if (!w) return;
        this.waiting.delete(v.value.id);
        clearTimeout(w.timer);
        w.resolve(v.value);
      },
      { log, name: "gateway" },
    );
  }

  request(tx: Omit<Transaction, "id">, traceparent: string | Buffer = "", timeoutMs = REQUEST_TIMEOUT_MS): Promise<Verdict> {
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    return new Promise<Verdict>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, error: "timeout" });
      }, timeoutMs);
      this.waiting.set(id, { resolve, timer });
      this.out.send(encodeRequest(traceparent, { ...tx, id })).catch((err: Error) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve({ id, ok: false, error: err.message });
      });
    });
  }

  close(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    this.socket.close();
  }
}

const CARDS = ["4111-0001", "4111-0002", "4111-0003", "5500-0004", "5500-0005", "3400-0006"];
const MERCHANTS = ["grocer", "airline", "casino-online", "bookshop", "fuel", "electronics"];

/** A made-up transaction: a card among six, a merchant among six, an amount with a long tail. */
export function randomTransaction(rand: () => number): Omit<Transaction, "id"> {
  return {
    card: CARDS[Math.floor(rand() * CARDS.length)] as string,
    merchant: MERCHANTS[Math.floor(rand() * MERCHANTS.length)] as string,
    amount: Math.round(10 ** (1 + rand() * 3.5)) / 1,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export interface LoadConfig {
  gateway: string;
  /** Requests per second (a steady pace). */
  rate: number;
  /** Requests in all (0: until stopped). */
  count: number;
  timeoutMs: number;
  seed: number;
}

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  decisions: Record<string, number>;
  p50: number;
  p99: number;
}

/** The load client role: transactions at a steady pace, each verdict counted, latencies kept. */
export class LoadClient {
  private readonly client: ChainClient;
  private readonly latencies: number[] = [];
  readonly stats: LoadStats = { sent: 0, ok: 0, failed: 0, decisions: {}, p50: Number.NaN, p99: Number.NaN };

  constructor(
    private readonly config: LoadConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.client = new ChainClient(config.gateway);
  }

  private percentiles(): void {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    this.stats.p50 = percentile(sorted, 50);
    this.stats.p99 = percentile(sorted, 99);
  }

  async run(signal: AbortSignal): Promise<void> {
    const rand = seededRandom(this.config.seed);
    const publish = this.publish;
    const log = this.log;
    const inflight = new Set<Promise<void>>();
    const pace = async () => {
      const gap = 1000 / this.config.rate;
      const t0 = performance.now();
      while (!signal.aborted && (this.config.count === 0 || this.stats.sent < this.config.count)) {
        const due = t0 + this.stats.sent * gap;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (signal.aborted) break;
        this.stats.sent += 1;
        const started = performance.now();
        const p = this.client.request(randomTransaction(rand), "", this.config.timeoutMs).then((v) => {
          this.latencies.push(performance.now() - started);
          if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
          if (v.ok) {
            this.stats.ok += 1;
            const d = v.decision ?? "?";
            this.stats.decisions[d] = (this.stats.decisions[d] ?? 0) + 1;
            if (d === "decline") log.info({ id: v.id, score: v.score }, "transaction declined");
          } else {
            this.stats.failed += 1;
            log.warn({ id: v.id, error: v.error }, "transaction failed");
          }
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      await Promise.all(inflight);
      this.percentiles();
      log.info({ ...this.stats }, "done");
      if (this.config.count > 0) this.client.close();
    };
    await runLoops(
      signal,
      {
        sockets: [this.client.socket],
        every: [
          {
            ms: VIEW_MS,
            run: () => {
              this.percentiles();
              publish?.(clientView(this.config, this.stats));
            },
          },
        ],
        log,
      },
      () => this.client.listen(signal, log),
      pace,
    );
  }
}
