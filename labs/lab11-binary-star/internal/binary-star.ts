/**
 * Binary Star: one server of a primary/backup pair, as the Guide's bstar.c reactor.
 *
 * - The state link is PUB-SUB: our PUB (bound at `stateBind`) sends our state every heartbeat as one
 *   ASCII frame ("1" primary ... "4" passive, see protocol.ts); our SUB (connected to the peer's PUB
 *   at `peerState`) reads the peer's state as an event. The PUB is an XPUB so that it also sends
 *   our state at once when the peer's SUB subscribes, and the state goes out at once when it
 *   changes (bstar.c waits for the next heartbeat in both cases). PUB-SUB because it never blocks and
 *   reconnects by itself, whichever server starts first (the Guide's reasons).
 * - Every peer state heard sets peerExpiry = now + 2 heartbeats, then runs the FSM (fsm.ts).
 * - The caller owns the client-facing socket (the "voter") and calls vote() for every client
 *   request: true means serve it, false means drop it without a reply (the client times out and
 *   tries the other server). A client request is the vote that turns a passive server active once
 *   the peer has been silent for two heartbeats: no client, no fail-over, no split brain.
 * - peerExpiry starts at start time + 2 heartbeats (bstar.c asserts instead), so a primary started
 *   alone goes active on the first request two heartbeats after it started; a backup alone never
 *   serves.
 * - A fatal outcome (dual actives, dual passives) logs one clear line and makes run() reject with a
 *   DualActive (or DualPassive) error: the caller exits; recovery is the operator's (Guide).
 *
 * One addition to bstar.c, in when the state is sent, not in the FSM ("holding"): a server that
 * was active when it last heard its peer, and has not heard it for two heartbeats, stops sending
 * its state until it hears the peer again (then it sends at once). Why: when a partition cuts the
 * active server from everyone, the other server takes over on a client's vote, and both are
 * active. bstar.c sends states on both sides when the network heals, so whichever hears the other
 * first dies: sometimes both, sometimes the one the clients moved to (a fail-back by accident).
 * Holding makes it deterministic: the server that took over keeps sending, the stale one hears
 * PEER_ACTIVE first and stops (dual actives, fatal). At most one server holds (two that were both
 * active when they heard each other would have stopped on dual actives), the other always sends,
 * so a healed link always carries states again.
 */
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, reconnectAfterDrops, runLoops } from "@zlabs/kit";
import { Subscriber, XPublisher } from "zeromq";
import { type BStarEvent, type BStarState, PEER_EVENT, step } from "./fsm.ts";
import { fromPeer, fromSubscriber, MAX_STATE_BYTES, stateFrame } from "./protocol.ts";

/** The Guide's BSTAR_HEARTBEAT. */
export const BSTAR_HEARTBEAT_MS = 1000;
/** The peer is taken for dead after this many heartbeats without its state (the Guide's 2). */
export const PEER_LIVENESS = 2;

export interface BinaryStarOptions {
  role: "primary" | "backup";
  /** Where our state PUB binds (tcp://127.0.0.1:5113 ...). */
  stateBind: string;
  /** The peer's state PUB, which our SUB connects to. */
  peerState: string;
  heartbeatMs: number;
  /** The clock (monotonic ms); performance.now() by default. */
  now?: () => number;
}

/** The pair is broken: both servers think they are active (or both passive). The server must stop. */
export class FatalPairState extends Error {
  constructor(
    message: string,
    readonly state: BStarState,
    readonly event: BStarEvent,
  ) {
    super(message);
  }
}

export class DualActive extends FatalPairState {
  override name = "DualActive";
}

export class DualPassive extends FatalPairState {
  override name = "DualPassive";
}

export type StateListener = (state: BStarState, previous: BStarState) => void;

export class BinaryStar {
  // An XPUB: a PUB that also sees the peer subscribe, and then sends our state at once. A few
  // states queued at most: a state is only worth its latest value.
  private readonly pub = new XPublisher({ linger: 0, sendHighWaterMark: 4, verbosity: "allSubs", ...peerLimits(MAX_STATE_BYTES) });
  private readonly sub = new Subscriber({ linger: 0, ...peerLimits(MAX_STATE_BYTES) });
  private current: BStarState;
  private expiry: number;
  private readonly listeners: StateListener[] = [];
  private fatal: FatalPairState | undefined;
  /** We were active when the last peer state arrived. */
  private activeWhenHeard = false;
  /** We are holding our state (see holding()). */
  private held = false;
  /** run() has bound the PUB: states may be sent. */
  private started = false;
  /** A state send is in progress; another is wanted after it. */
  private sending = false;
  private sendAgain = false;
  /** The peer's silence has been noted (logged once until it is heard again). */
  private silent = false;
  private readonly now: () => number;
  /** The endpoint the state PUB is bound to (a tcp://...:* becomes the port chosen), once bound. */
  stateEndpoint = "";
  /** The last state the peer sent, and when (monotonic ms); undefined before the first. */
  peerState: BStarState | undefined;
  peerHeardAt: number | undefined;
  /** Client requests served and refused by the vote. */
  accepted = 0;
  rejected = 0;
  statesSent = 0;
  /** Messages on the state link that are not a state: dropped and counted. */
  dropped = 0;
  readonly startedAt: number;
  readonly loop: LoopStats = { received: 0, failed: 0 };
  /** Subscription messages taken on our state PUB. */
  readonly subscriptions: LoopStats = { received: 0, failed: 0 };

  constructor(
    private readonly options: BinaryStarOptions,
    private readonly log: Logger,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.current = options.role;
    this.startedAt = this.now();
    this.expiry = this.startedAt + PEER_LIVENESS * options.heartbeatMs;
    // ZMTP heartbeats on the state link: a connection cut by the network is dropped after three
    // silent heartbeats (and connected again when it heals) instead of queueing stale states.
    this.pub.heartbeatInterval = options.heartbeatMs;
    this.pub.heartbeatTimeout = 3 * options.heartbeatMs;
    this.sub.heartbeatInterval = options.heartbeatMs;
    this.sub.heartbeatTimeout = 3 * options.heartbeatMs;
  }

  get state(): BStarState {
    return this.current;
  }

  get role(): "primary" | "backup" {
    return this.options.role;
  }

  /** When the peer counts as gone: the last state heard (or our start) + 2 heartbeats. */
  get peerExpiry(): number {
    return this.expiry;
  }

  onChange(listener: StateListener): void {
    this.listeners.push(listener);
  }

  /** Binds the state PUB (run() does it if not done): a test binds tcp://127.0.0.1:* and reads stateEndpoint. */
  async bind(): Promise<string> {
    if (this.stateEndpoint) return this.stateEndpoint;
    // An address in use is a one-line usage error (exit 2), with a "listening" line when bound.
    this.stateEndpoint = (await bindAll(this.log, { state: [this.pub, this.options.stateBind] })).state;
    return this.stateEndpoint;
  }

  /**
   * Call for every client request on the voter socket: true = serve it; false = drop it with no
   * reply. May turn a primary or passive server active (the client's vote).
   */
  vote(now: number = this.now()): boolean {
    const result = this.apply("client-request", now);
    if (result === "accept") this.accepted += 1;
    else this.rejected += 1;
    return result === "accept";
  }

  /**
   * Publishes our state every heartbeat and reads the peer's until the signal aborts (resolves) or
   * the pair breaks (rejects with DualActive / DualPassive).
   */
  async run(signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const forward = () => stop.abort();
    signal.addEventListener("abort", forward, { once: true });
    if (signal.aborted) stop.abort();
    try {
      await this.bind();
      this.sub.subscribe();
      // The peer's PUB is its own; a frame over our limit makes libzmq drop it for good: connect again.
      reconnectAfterDrops(this.sub, [this.options.peerState], this.log);
      this.sub.connect(this.options.peerState);
      this.log.info(
        { as: this.options.role, stateBind: this.stateEndpoint, peerState: this.options.peerState, heartbeatMs: this.options.heartbeatMs },
        "binary star started",
      );
      // The first state at once (bstar.c waits a heartbeat): the pair settles a heartbeat sooner.
      this.started = true;
      this.sendState();
      await runLoops(
        stop.signal,
        { sockets: [this.pub, this.sub], every: [{ ms: this.options.heartbeatMs, run: () => this.tick() }], log: this.log },
        () => receiveLoop(this.sub, stop.signal, (frames) => this.onPeer(frames, stop), { log: this.log, name: "state", stats: this.loop }),
        () =>
          receiveLoop(this.pub, stop.signal, (frames) => this.onSubscription(frames), {
            log: this.log,
            name: "state-pub",
            stats: this.subscriptions,
          }),
      );
    } finally {
      signal.removeEventListener("abort", forward);
    }
    if (this.fatal) throw this.fatal;
  }

  /**
   * Whether we keep our state to ourselves: we are active, we were active when the peer was last
   * heard, and it has been silent for two heartbeats since. See the class comment ("holding").
   */
  holding(now: number = this.now()): boolean {
    return this.current === "active" && this.activeWhenHeard && now >= this.expiry;
  }

  /** Every heartbeat: note the peer's silence once, then send our state unless holding. */
  private tick(): void {
    const now = this.now();
    if (!this.silent && this.peerHeardAt !== undefined && now >= this.expiry) {
      this.silent = true;
      this.log.warn(
        { state: this.current, silentMs: Math.round(now - this.peerHeardAt), holding: this.holding(now) },
        this.holding(now)
          ? "peer silent for two heartbeats: holding our state until the peer is heard again"
          : "peer silent for two heartbeats",
      );
    }
    this.sendState();
  }

  private sendState(): void {
    if (this.holding()) {
      this.held = true;
      return;
    }
    // zeromq.js takes one send at a time per socket; a state is only worth its latest value, so a
    // state wanted while one is being sent is sent once after it (whatever the state is by then).
    // Before run() has bound the PUB (a vote may come first) there is nothing to send on: run()
    // sends the state once bound.
    if (!this.started || this.pub.closed) return;
    if (this.sending) {
      this.sendAgain = true;
      return;
    }
    this.sending = true;
    this.statesSent += 1;
    // A PUB never blocks: with no subscriber (or a full queue) the state is dropped, as it should be.
    this.pub
      .send(stateFrame(this.current))
      .catch((err: unknown) => {
        if (!this.pub.closed) this.log.warn({ err }, "state not sent");
      })
      .finally(() => {
        this.sending = false;
        if (this.sendAgain && !this.pub.closed) {
          this.sendAgain = false;
          this.sendState();
        }
      });
  }

  /**
   * A subscription on our state PUB: the peer's SUB has (re)connected. Our state goes out at once
   * instead of at the next heartbeat, so a pair settles as soon as both are up. Anything that is
   * not a subscription is dropped and counted.
   */
  private onSubscription(frames: Buffer[]): void {
    const msg = fromSubscriber(frames);
    if (msg.kind === "invalid") {
      this.dropped += 1;
      this.log.warn({ reason: msg.reason, total: this.dropped }, "invalid message on the state PUB dropped");
      return;
    }
    if (msg.kind === "subscribe") this.sendState();
  }

  private onPeer(frames: Buffer[], stop: AbortController): void {
    const msg = fromPeer(frames);
    if (msg.kind === "invalid") {
      this.dropped += 1;
      this.log.warn({ reason: msg.reason, total: this.dropped }, "invalid message on the state link dropped");
      return;
    }
    const now = this.now();
    const first = this.peerState === undefined;
    const wasHolding = this.held;
    const wasSilent = this.silent;
    this.silent = false;
    this.peerState = msg.state;
    this.peerHeardAt = now;
    this.expiry = now + PEER_LIVENESS * this.options.heartbeatMs;
    if (first) this.log.info({ peer: msg.state }, "peer heard");
    if (this.apply(PEER_EVENT[msg.state], now) === "fatal") {
      stop.abort();
      return;
    }
    this.activeWhenHeard = this.current === "active";
    if (wasSilent) this.log.info({ peer: msg.state, state: this.current, holding: wasHolding }, "peer heard again");
    if (wasHolding) {
      // Sent at once: the peer learns we are back without waiting a heartbeat.
      this.held = false;
      this.sendState();
    }
  }

  private apply(event: BStarEvent, now: number): "accept" | "reject" | "fatal" {
    if (this.fatal) return "reject";
    const previous = this.current;
    const next = step(previous, event, now, this.expiry);
    if (next.outcome === "fatal") {
      const why = next.reason ?? "fatal";
      this.fatal = event === "peer-active" ? new DualActive(why, previous, event) : new DualPassive(why, previous, event);
      this.log.fatal(
        { state: previous, event, as: this.options.role },
        `${why}: the pair is broken, this server stops (recovery is manual)`,
      );
      return "fatal";
    }
    if (next.state !== previous) {
      this.current = next.state;
      const sincePeerMs = this.peerHeardAt === undefined ? undefined : Math.round(now - this.peerHeardAt);
      this.log.info({ from: previous, to: next.state, event, why: next.reason, sincePeerMs }, "state changed");
      for (const listener of this.listeners) listener(next.state, previous);
      // The new state goes out at once too, not at the next heartbeat: the peer follows sooner.
      this.sendState();
    }
    return next.outcome;
  }
}
