import { type Logger, pause, peerLimits, type View } from "@zlabs/kit";
import { Request } from "zeromq";
import { encodeRequest, fromServer, MAX_REPLY_BYTES, PROTOCOL_VERSION } from "./protocol.ts";
import { type ClientSnapshot, clientView, type FailoverRecord, VIEW_MS } from "./view.ts";

/** The Guide's bstarcli.c values. */
export const REQUEST_TIMEOUT_MS = 1000;
export const SETTLE_DELAY_MS = 2000;
/** One request a second, as bstarcli.c. */
export const REQUEST_INTERVAL_MS = 1000;
/** Fail-overs kept for the view. */
const FAILOVERS_SHOWN = 5;

export interface ClientAppConfig {
  /** The primary's and the backup's front ends, in that order. */
  servers: [string, string];
  id: string;
  timeoutMs: number;
  settleMs: number;
  intervalMs: number;
  /** Requests to make; 0: until stopped. */
  count: number;
}

export interface ClientAppOptions {
  publish?: (view: View) => void;
  now?: () => number;
}

const NAMES = ["primary", "backup"] as const;

/**
 * The Guide's Binary Star client (bstarcli.c): one request at a time with a sequence number; when
 * no reply comes within the timeout it closes the socket (a REQ that sent and got nothing is stuck),
 * switches to the other server, waits the settle delay (so the pair has time to fail over), and
 * sends the same request again; a reply counts only when its sequence is the request's. Each
 * request that needed a switch is reported as a fail-over with its duration. It also waits the
 * settle delay once before its first request, so that it does not start while the pair settles.
 */
export class ClientApp {
  private index: 0 | 1 = 0;
  private socket: Request | undefined;
  private readonly now: () => number;
  served = 0;
  timeouts = 0;
  badReplies = 0;
  reissued = 0;
  lastTicket: number | undefined;
  private highest = 0;
  private reissuing = false;
  /** The server that answered the last request. */
  private lastServer: string | undefined;
  private waitingSince: number | undefined;
  readonly failovers: FailoverRecord[] = [];
  failoverCount = 0;

  constructor(
    private readonly config: ClientAppConfig,
    private readonly log: Logger,
    private readonly options: ClientAppOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  snapshot(): ClientSnapshot {
    return {
      server: NAMES[this.index],
      endpoint: this.config.servers[this.index],
      served: this.served,
      lastTicket: this.lastTicket,
      reissued: this.reissued,
      timeouts: this.timeouts,
      waitingMs: this.waitingSince === undefined ? undefined : this.now() - this.waitingSince,
      failovers: this.failovers.slice(-FAILOVERS_SHOWN),
      failoverCount: this.failoverCount,
    };
  }

  async run(signal: AbortSignal): Promise<number> {
    const publish = this.options.publish;
    const timer = publish ? setInterval(() => publish(clientView(this.snapshot())), VIEW_MS) : undefined;
    const onAbort = () => this.closeSocket();
    signal.addEventListener("abort", onAbort, { once: true });
    this.log.info({ servers: this.config.servers, timeoutMs: this.config.timeoutMs, settleMs: this.config.settleMs }, "client started");
    try {
      // The settle delay before the first request too (bstarcli.c sends at once): a pair started
      // with its clients has then settled, and the first request does not wander between them.
      if (!(await pause(this.config.settleMs, signal))) return 0;
      this.open();
      for (let seq = 1; !signal.aborted && (this.config.count === 0 || seq <= this.config.count); seq++) {
        if (!(await this.request(seq, signal))) break;
        if (this.config.count === 0 || seq < this.config.count) await pause(this.config.intervalMs, signal);
      }
    } finally {
      if (timer) clearInterval(timer);
      signal.removeEventListener("abort", onAbort);
      this.closeSocket();
    }
    this.log.info({ served: this.served, failovers: this.failoverCount, reissued: this.reissued }, "client done");
    return 0;
  }

  /** One request until answered: false when stopped first. */
  private async request(seq: number, signal: AbortSignal): Promise<boolean> {
    const body = encodeRequest({ v: PROTOCOL_VERSION, seq, client: this.config.id });
    const firstSent = this.now();
    let timeouts = 0;
    this.waitingSince = firstSent;
    await this.send(body);
    for (;;) {
      const answer = await this.receive(seq);
      if (signal.aborted) return false;
      if (answer !== undefined) {
        this.waitingSince = undefined;
        this.served += 1;
        this.onTicket(answer.ticket, answer.server, seq);
        const to = NAMES[this.index];
        const ms = Math.round(this.now() - firstSent);
        // A fail-over is a switch from the server that answered last; at the start, or when the
        // same server answers again after timeouts (it restarted, or was settling), it is not one.
        if (timeouts > 0 && this.lastServer !== undefined && this.lastServer !== to)
          this.failedOver({ from: this.lastServer, to, ms, timeouts });
        else if (timeouts > 0)
          this.log.info({ server: to, ms, timeouts }, "served after timeouts, by the server that answered last (no fail-over)");
        this.lastServer = to;
        return true;
      }
      timeouts += 1;
      this.timeouts += 1;
      this.log.warn({ server: NAMES[this.index], seq }, "no response from server, failing over");
      // The old socket is stuck waiting for a reply: close it and open one to the other server.
      this.closeSocket();
      this.index = this.index === 0 ? 1 : 0;
      if (!(await pause(this.config.settleMs, signal))) return false;
      this.open();
      this.log.info({ server: NAMES[this.index], endpoint: this.config.servers[this.index], seq }, "sending the same request again");
      await this.send(body);
    }
  }

  private failedOver(record: FailoverRecord): void {
    this.failoverCount += 1;
    this.failovers.push(record);
    if (this.failovers.length > FAILOVERS_SHOWN) this.failovers.shift();
    this.log.warn({ ...record, count: this.failoverCount }, `failed over to ${record.to} in ${(record.ms / 1000).toFixed(1)} s`);
  }

  private onTicket(ticket: number, server: string, seq: number): void {
    const again = ticket <= this.highest;
    if (again) {
      this.reissued += 1;
      if (!this.reissuing)
        this.log.warn(
          { ticket, highest: this.highest, server },
          "ticket numbers went back: the new active broker does not know the tickets given out before (Binary Star replicates nothing)",
        );
    }
    this.reissuing = again;
    this.lastTicket = ticket;
    this.highest = Math.max(this.highest, ticket);
    this.log.info({ seq, ticket, server }, "ticket");
  }

  private open(): void {
    this.socket = new Request({ linger: 0, receiveTimeout: this.config.timeoutMs, ...peerLimits(MAX_REPLY_BYTES) });
    this.socket.connect(this.config.servers[this.index]);
  }

  private closeSocket(): void {
    if (this.socket && !this.socket.closed) this.socket.close();
  }

  private async send(body: Buffer): Promise<void> {
    try {
      await (this.socket as Request).send(body);
    } catch (err) {
      if (!this.socket?.closed) throw err;
    }
  }

  /** The reply to `seq`, or undefined on a timeout, a bad reply or a closed socket. */
  private async receive(seq: number): Promise<{ ticket: number; server: string } | undefined> {
    let frames: Buffer[];
    try {
      frames = await (this.socket as Request).receive();
    } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN" || this.socket?.closed) return undefined;
      throw err;
    }
    const msg = fromServer(frames);
    if (msg.kind === "reply" && msg.reply.seq === seq) return msg.reply;
    this.badReplies += 1;
    this.log.warn(
      { seq, got: msg.kind === "reply" ? msg.reply.seq : undefined, reason: msg.kind === "invalid" ? msg.reason : "wrong sequence" },
      "bad reply from server",
    );
    return undefined;
  }
}
