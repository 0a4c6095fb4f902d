import { type Logger, peerLimits, seededRandom, type View } from "@zlabs/kit";
import { curveKeyPair, Request } from "zeromq";
import { encodeLookup, fromService, PROTOCOL_VERSION } from "./protocol.ts";
import { clientView, RateWindow, VIEW_MS } from "./view.ts";

/** How long a client waits for a record before it asks again. */
export const REQUEST_TIMEOUT_MS = 5000;

export interface ClientConfig {
  /** Its routing identity: the proxy's table lists clients by it. */
  id: string;
  proxy: string;
  /** Lookups a second; 0: as fast as the replies come (one at a time). */
  rate: number;
  /** Stop after this many records (0: run until stopped). */
  count: number;
  timeoutMs: number;
  /** Speak CURVE to a proxy that speaks NULL: every handshake fails (a misconfigured client). */
  curve: boolean;
  seed: number;
}

/**
 * A front-office application asking the records service, through the proxy, for customer records:
 * a REQ socket with a routing id of its own. A request unanswered within the timeout is sent again
 * on the same socket (relaxed REQ; correlate makes libzmq drop the late answer to the first one).
 * Returns the exit code: 0, or 3 when it was asked for a count and stopped before.
 */
export class ClientApp {
  sent = 0;
  replies = 0;
  resent = 0;
  errors = 0;
  private lastMs: number | undefined;
  private waitingSince: number | undefined;
  private readonly rates = new RateWindow();

  constructor(
    private readonly config: ClientConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {}

  async run(signal: AbortSignal): Promise<number> {
    const c = this.config;
    const keys = c.curve ? curveKeyPair() : undefined;
    const socket = new Request({
      linger: 0,
      routingId: c.id,
      relaxed: true,
      correlate: true,
      receiveTimeout: c.timeoutMs,
      ...peerLimits(),
      ...(keys ? { curveServerKey: curveKeyPair().publicKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {}),
    });
    const stop = () => socket.close();
    signal.addEventListener("abort", stop, { once: true });
    const timer = this.publish ? setInterval(() => this.publish?.(this.view()), VIEW_MS) : undefined;
    const random = seededRandom(c.seed);
    const gapMs = c.rate > 0 ? 1000 / c.rate : 0;
    socket.connect(c.proxy);
    this.log.info({ proxy: c.proxy, id: c.id, rate: c.rate, curve: c.curve }, "asking for customer records");
    let next = performance.now();
    try {
      while (!signal.aborted && (c.count === 0 || this.replies < c.count)) {
        if (gapMs > 0) {
          next += gapMs;
          const wait = next - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          else next = performance.now();
          if (signal.aborted) break;
        }
        const customer = `C-${String(Math.floor(random() * 100_000)).padStart(5, "0")}`;
        await this.ask(socket, encodeLookup({ v: PROTOCOL_VERSION, customer }), customer, signal);
      }
    } finally {
      clearInterval(timer);
      signal.removeEventListener("abort", stop);
      socket.close();
      this.publish?.(this.view());
    }
    this.log.info({ sent: this.sent, replies: this.replies, resent: this.resent, errors: this.errors }, "done");
    return c.count > 0 && this.replies < c.count ? 3 : 0;
  }

  view(): View {
    const now = performance.now();
    const [perSecond = 0] = this.rates.update("replies", now, [this.replies]);
    const waiting = this.waitingSince !== undefined && now - this.waitingSince > 1000 ? now - this.waitingSince : undefined;
    return clientView({
      id: this.config.id,
      sent: this.sent,
      replies: this.replies,
      resent: this.resent,
      errors: this.errors,
      perSecond,
      lastMs: this.lastMs,
      waitingMs: waiting,
      curve: this.config.curve,
    });
  }

  /** One lookup, sent again after each timeout until a record comes or the client stops. */
  private async ask(socket: Request, lookup: Buffer, customer: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    this.waitingSince = started;
    let attempts = 0;
    while (!signal.aborted) {
      attempts += 1;
      this.sent += 1;
      await socket.send(lookup);
      const sentAt = performance.now();
      let frames: Buffer[] | undefined;
      while (!frames) {
        try {
          frames = await socket.receive();
        } catch (err) {
          if (signal.aborted || socket.closed) return;
          if ((err as { code?: string }).code !== "EAGAIN") throw err;
          // libzmq wakes a correlating REQ for a late reply to an earlier attempt, drops it, and
          // says EAGAIN at once: only a wait of the whole timeout is one.
          if (performance.now() - sentAt < this.config.timeoutMs - 1) continue;
          break;
        }
      }
      if (!frames) {
        this.resent += 1;
        this.log.warn({ customer, attempts, waitedMs: Math.round(performance.now() - started) }, "no record in time; asking again");
        continue;
      }
      this.waitingSince = undefined;
      this.lastMs = performance.now() - started;
      const msg = fromService(frames);
      if (msg.kind === "invalid" || "error" in msg.record) {
        this.errors += 1;
        this.log.warn({ customer, why: msg.kind === "invalid" ? msg.reason : (msg.record as { error: string }).error }, "lookup failed");
      } else this.log.debug({ customer, name: msg.record.name, by: msg.record.by }, "record");
      this.replies += 1;
      if (attempts > 1) this.log.info({ customer, attempts, waitedMs: Math.round(this.lastMs) }, "record after waiting");
      return;
    }
  }
}
