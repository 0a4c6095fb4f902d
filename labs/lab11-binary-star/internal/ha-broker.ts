import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Router } from "zeromq";
import { BinaryStar, FatalPairState } from "./binary-star.ts";
import { EMPTY, encodeReply, type FromClient, fromClient, MAX_REQUEST_BYTES, PROTOCOL_VERSION } from "./protocol.ts";
import { TicketDesk } from "./tickets.ts";
import { type BrokerSnapshot, brokerView, VIEW_MS } from "./view.ts";

/** The exit code of a broker that stopped because the pair broke (dual actives or dual passives). */
export const EXIT_PAIR_BROKEN = 3;

export interface HaBrokerConfig {
  role: "primary" | "backup";
  /** ROUTER for clients: the voter. */
  front: string;
  /** Our state PUB. */
  stateBind: string;
  /** The peer's state PUB. */
  peerState: string;
  heartbeatMs: number;
}

export interface HaBrokerOptions {
  publish?: (view: View) => void;
  now?: () => number;
}

/**
 * One broker of the pair: a ticket desk behind a ROUTER front end, guarded by Binary Star. Each
 * valid client request is a vote (BinaryStar.vote): served while active (or when the vote makes
 * this broker active), dropped without a reply otherwise, so the client times out and tries the
 * other broker. A malformed request is dropped and counted, and does not vote.
 */
export class HaBroker {
  private readonly front = new Router({ linger: 0, ...peerLimits(MAX_REQUEST_BYTES) });
  readonly star: BinaryStar;
  readonly desk = new TicketDesk();
  readonly endpoints = { front: "", state: "" };
  /** Requests refused because this broker is not active (no reply sent). */
  refused = 0;
  /** Malformed requests dropped. */
  dropped = 0;
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private readonly now: () => number;

  constructor(
    private readonly config: HaBrokerConfig,
    private readonly log: Logger,
    private readonly options: HaBrokerOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.star = new BinaryStar(
      { role: config.role, stateBind: config.stateBind, peerState: config.peerState, heartbeatMs: config.heartbeatMs, now: this.now },
      log,
    );
    this.star.onChange((state) => {
      if (state === "active")
        log.info({ nextTicket: this.desk.nextTicket }, "serving tickets: this desk knows only the tickets it gave out itself");
    });
  }

  async bind(): Promise<void> {
    const bound = await bindAll(this.log, { front: [this.front, this.config.front] });
    const state = await this.star.bind();
    Object.assign(this.endpoints, { front: bound.front, state });
  }

  snapshot(): BrokerSnapshot {
    const s = this.star;
    return {
      role: this.config.role,
      state: s.state,
      peerState: s.peerState,
      peerSilentMs: s.peerHeardAt === undefined ? undefined : this.now() - s.peerHeardAt,
      peerDeadAfterMs: 2 * this.config.heartbeatMs,
      issued: this.desk.issued,
      nextTicket: this.desk.nextTicket,
      clients: this.desk.clients,
      refused: this.refused,
      dropped: this.dropped + s.dropped,
      holding: s.holding(),
    };
  }

  /** Serves until the signal aborts (0) or the pair breaks (EXIT_PAIR_BROKEN, after BinaryStar's fatal line). */
  async run(signal: AbortSignal): Promise<number> {
    if (!this.endpoints.front) await this.bind();
    const stop = new AbortController();
    const forward = () => stop.abort();
    signal.addEventListener("abort", forward, { once: true });
    if (signal.aborted) stop.abort();
    const publish = this.options.publish;
    const log = this.log;
    try {
      const [star, front] = await Promise.allSettled([
        this.star.run(stop.signal).finally(() => stop.abort()),
        runLoops(
          stop.signal,
          { sockets: [this.front], every: publish ? [{ ms: VIEW_MS, run: () => publish(brokerView(this.snapshot())) }] : [], log },
          () =>
            receiveLoop(this.front, stop.signal, (frames) => this.onClient(fromClient(frames)), { log, name: "front", stats: this.loop }),
        ).finally(() => stop.abort()),
      ]);
      if (star.status === "rejected") {
        if (star.reason instanceof FatalPairState) return EXIT_PAIR_BROKEN;
        throw star.reason;
      }
      if (front.status === "rejected") throw front.reason;
      return 0;
    } finally {
      signal.removeEventListener("abort", forward);
    }
  }

  private async onClient(msg: FromClient): Promise<void> {
    if (msg.kind === "invalid") {
      this.dropped += 1;
      this.log.warn({ client: msg.identity, reason: msg.reason, total: this.dropped }, "malformed request dropped");
      return;
    }
    const { seq, client } = msg.request;
    if (!this.star.vote()) {
      this.refused += 1;
      this.log.info({ client, seq, state: this.star.state, total: this.refused }, "request refused: not active (no reply)");
      return;
    }
    const ticket = this.desk.take(client);
    this.log.debug({ client, seq, ticket }, "ticket issued");
    // A client that has gone: the ROUTER drops the reply.
    await this.front.send([msg.identity, EMPTY, encodeReply({ v: PROTOCOL_VERSION, seq, ticket, server: this.config.role })]);
  }
}
