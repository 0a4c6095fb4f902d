import {
  type Logger,
  type LoopStats,
  peerLimits,
  publishView,
  receiveLoop,
  reconnectAfterDrops,
  runLoops,
  UsageError,
  type View,
} from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { type AgentRecord, type LivenessEvent, LivenessTracker } from "./liveness.ts";
import { decodeHeartbeat, type Level, subscriptionsFor } from "./protocol.ts";
import { dashboardView } from "./view.ts";

/** How often liveness is re-judged, as a share of the shortest agent interval we plan for. */
export const TICK_MS = 100;
/** How often the live view (the agents' table) is published: the ages in it move on. */
export const VIEW_MS = 500;

export interface DashboardConfig {
  connect: string[];
  racks: string[];
  levels: Level[];
  liveness: number;
  tickMs?: number;
  /** The kit's RECONNECT_AFTER_DROP_MS by default. */
  reconnectMs?: number;
}

export interface DashboardHooks {
  /** Every liveness event, for tests and embedding. */
  onEvent?: (event: LivenessEvent) => void;
  onMalformed?: (reason: string) => void;
  /** Monotonic clock in ms. */
  now?: () => number;
  /** Where the live view goes: the kit's publishView (the demo's screen, a terminal, or nowhere) by default. */
  publish?: (view: View) => void;
}

/**
 * The dashboard: a SUB socket connected to every agent, a liveness tracker, and a live view (a
 * table of the agents) published twice a second; every change of state is also one log line.
 * Connecting to agents that are not up yet is fine: ZeroMQ keeps retrying in the background,
 * and libzmq re-sends our subscriptions to an agent that restarts. A heartbeat is well under
 * a kilobyte; the socket takes nothing over the kit's default limit (1 MiB).
 */
export class Dashboard {
  readonly tracker: LivenessTracker;
  readonly subscriptions: string[];
  /** Messages received, and those whose handling threw (the loop goes on). */
  readonly stats: LoopStats = { received: 0, failed: 0 };
  /** Messages dropped as malformed (a reason each, logged). */
  malformedTotal = 0;
  private readonly socket = new Subscriber({ linger: 0, ...peerLimits() });
  private readonly now: () => number;

  constructor(
    private readonly config: DashboardConfig,
    private readonly log: Logger,
    private readonly hooks: DashboardHooks = {},
  ) {
    this.now = hooks.now ?? (() => performance.now());
    this.tracker = new LivenessTracker({ liveness: config.liveness, levels: config.levels });
    this.subscriptions = subscriptionsFor(config.racks, config.levels);
  }

  /** Receives, judges and shows until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    for (const endpoint of this.config.connect) {
      try {
        this.socket.connect(endpoint);
      } catch (err) {
        this.socket.close();
        throw new UsageError(`cannot connect to ${endpoint}: ${(err as Error).message}`);
      }
    }
    this.socket.subscribe(...this.subscriptions);
    reconnectAfterDrops(this.socket, this.config.connect, this.log, this.config.reconnectMs);
    const endpoints = this.config.connect;
    const connect = endpoints.length > 3 ? `${endpoints[0]} … ${endpoints.at(-1)} (${endpoints.length} endpoints)` : endpoints.join(" ");
    this.log.info({ connect, subscriptions: this.subscriptions.join(" ") }, "watching");
    const every = [
      { ms: this.config.tickMs ?? TICK_MS, run: () => this.tick() },
      { ms: VIEW_MS, run: () => this.publishView() },
    ];
    this.publishView();
    await runLoops(signal, { sockets: [this.socket], every, log: this.log }, () =>
      receiveLoop(this.socket, signal, (frames) => this.receive(frames), { log: this.log, name: "agents", stats: this.stats }),
    );
  }

  /** The live view now: a row per agent. */
  view(): View {
    return dashboardView(this.tracker.agents(), this.now(), {
      liveness: this.config.liveness,
      malformed: this.malformedTotal,
      refused: this.tracker.refused,
      subscriptions: this.subscriptions,
    });
  }

  private publishView(): void {
    (this.hooks.publish ?? publishView)(this.view());
  }

  receive(frames: Buffer[]): void {
    const message = decodeHeartbeat(frames);
    switch (message.kind) {
      case "heartbeat":
        for (const event of this.tracker.heartbeat(message.heartbeat, this.now())) this.report(event);
        break;
      case "invalid":
        this.malformedTotal += 1;
        this.log.warn({ reason: message.reason, total: this.malformedTotal }, "malformed message dropped");
        this.hooks.onMalformed?.(message.reason);
        break;
    }
  }

  tick(): void {
    for (const event of this.tracker.tick(this.now())) this.report(event);
  }

  private report(event: LivenessEvent): void {
    const a: AgentRecord = event.agent;
    const who = { agent: a.agent, rack: a.rack };
    switch (event.kind) {
      case "joined":
        this.log.info({ ...who, incarnation: a.incarnation, alert: a.level }, "agent joined");
        break;
      case "restarted":
        this.log.warn({ ...who, incarnation: a.incarnation, previous: event.previousIncarnation, restarts: a.restarts }, "agent restarted");
        break;
      case "dropped":
        this.log.warn({ ...who, missed: event.missed, dropped: a.dropped }, "heartbeats dropped");
        break;
      case "stale":
        this.log.debug({ ...who, seq: event.seq }, "stale heartbeat");
        break;
      case "state": {
        const fields = { ...who, from: event.from, silentMs: Math.round(event.silentMs) };
        if (event.to === "dead") this.log.error(fields, "agent dead");
        else if (event.to === "suspect") this.log.warn(fields, "agent suspect");
        else this.log.info(fields, "agent alive again");
        break;
      }
      case "level":
        this.log[event.to === "crit" ? "warn" : "info"]({ ...who, from: event.from, to: event.to, reason: a.reason }, "level changed");
        break;
      case "left-view":
        this.log.info({ ...who, alert: a.level }, "agent left view");
        break;
      case "refused":
        // Once, then every 1000th: a peer inventing names must not flood the log either.
        if (this.tracker.refused % 1000 === 1)
          this.log.warn({ ...who, refused: this.tracker.refused }, "agent table full; heartbeat refused");
        break;
    }
    // A change shows in the table at once (the kit sends at most four views a second).
    if (event.kind !== "stale" && event.kind !== "refused") this.publishView();
    this.hooks.onEvent?.(event);
  }
}
