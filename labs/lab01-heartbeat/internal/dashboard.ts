import { type Logger, type LoopStats, peerLimits, receiveLoop, reconnectAfterDrops, runLoops, UsageError } from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { type AgentRecord, type LivenessEvent, LivenessTracker } from "./liveness.ts";
import { decodeHeartbeat, type Level, subscriptionsFor } from "./protocol.ts";
import { renderTable, statusLine } from "./view.ts";

/** How often liveness is re-judged, as a share of the shortest agent interval we plan for. */
export const TICK_MS = 100;
/** How often the table is redrawn on a terminal. */
export const REDRAW_MS = 500;
/** Events kept under the table. */
const RECENT_EVENTS = 8;

export interface DashboardConfig {
  connect: string[];
  racks: string[];
  levels: Level[];
  liveness: number;
  /** table: redraw in place (a terminal); log: a JSON/pretty line per state change and a periodic status. */
  view: "table" | "log";
  /** Period of the status line in log view; 0 turns it off. */
  statusEveryMs: number;
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
  /** Where the table goes. */
  out?: NodeJS.WritableStream;
}

/**
 * The dashboard: a SUB socket connected to every agent, a liveness tracker, and a view.
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
  private readonly recent: string[] = [];

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
    this.log.info({ connect: this.config.connect, subscriptions: this.subscriptions }, "watching");
    const every = [{ ms: this.config.tickMs ?? TICK_MS, run: () => this.tick() }];
    if (this.config.view === "table") every.push({ ms: REDRAW_MS, run: () => this.draw() });
    else if (this.config.statusEveryMs > 0) every.push({ ms: this.config.statusEveryMs, run: () => this.logStatus() });
    try {
      await runLoops(signal, { sockets: [this.socket], every, log: this.log }, () =>
        receiveLoop(this.socket, signal, (frames) => this.receive(frames), { log: this.log, name: "agents", stats: this.stats }),
      );
    } finally {
      if (this.config.view === "table") this.draw();
    }
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
        this.note("info", { ...who, incarnation: a.incarnation, alert: a.level }, "agent joined");
        break;
      case "restarted":
        this.note(
          "warn",
          { ...who, incarnation: a.incarnation, previous: event.previousIncarnation, restarts: a.restarts },
          "agent restarted",
        );
        break;
      case "dropped":
        this.note("warn", { ...who, missed: event.missed, dropped: a.dropped }, "heartbeats dropped");
        break;
      case "stale":
        this.log.debug({ ...who, seq: event.seq }, "stale heartbeat");
        break;
      case "state": {
        const fields = { ...who, from: event.from, silentMs: Math.round(event.silentMs) };
        if (event.to === "dead") this.note("error", fields, "agent dead");
        else if (event.to === "suspect") this.note("warn", fields, "agent suspect");
        else this.note("info", fields, "agent alive again");
        break;
      }
      case "level":
        this.note(event.to === "crit" ? "warn" : "info", { ...who, from: event.from, to: event.to, reason: a.reason }, "level changed");
        break;
      case "left-view":
        this.note("info", { ...who, alert: a.level }, "agent left view");
        break;
      case "refused":
        // Once, then every 1000th: a peer inventing names must not flood the log either.
        if (this.tracker.refused % 1000 === 1)
          this.log.warn({ ...who, refused: this.tracker.refused }, "agent table full; heartbeat refused");
        break;
    }
    this.hooks.onEvent?.(event);
  }

  private note(level: "info" | "warn" | "error", fields: Record<string, unknown>, msg: string): void {
    this.log[level](fields, msg);
    this.recent.push(`${new Date().toISOString().slice(11, 19)} ${msg} ${String(fields.agent)}`);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
  }

  private logStatus(): void {
    const agents = this.tracker.agents();
    this.log.info({ ...this.tracker.counts(), malformed: this.malformedTotal, agents: statusLine(agents) }, "status");
  }

  private draw(): void {
    const out = this.hooks.out ?? process.stdout;
    const table = renderTable(this.tracker.agents(), this.now(), {
      color: Boolean((out as NodeJS.WriteStream).isTTY),
      malformed: this.malformedTotal,
      events: this.recent,
    });
    out.write(`\x1b[H\x1b[2J${table}\n`);
  }
}
