import { bindAll, type Logger, pause, peerLimits, publishView, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Reply as ReplySocket } from "zeromq";
import { BadArgs, cpu, disk, info, load, mem, ps, uptime } from "./host.ts";
import {
  AGENT_MAX_MESSAGE_BYTES,
  COMMANDS,
  decodeRequest,
  encodeReply,
  errorReply,
  isCommand,
  okReply,
  type Reply,
  type Request,
} from "./protocol.ts";
import { agentView } from "./view.ts";

/** How often the agent's view is refreshed between requests (its "last request 3.2 s ago" ages), ms. */
export const AGENT_VIEW_MS = 1000;

/**
 * Misbehaviour on purpose, as the Guide's lpserver does it: after a few good cycles, a request
 * sometimes crashes the agent and sometimes takes longer than any client waits.
 */
export interface ChaosConfig {
  /** Requests served normally before chaos starts. */
  afterCycles: number;
  crashChance: number;
  slowChance: number;
  slowMs: number;
}

export interface AgentConfig {
  id: string;
  bind: string;
  chaos?: ChaosConfig;
}

export interface AgentHooks {
  /** How a chaos crash happens; a real SIGKILL of this process by default. */
  crash?: () => void;
  random?: () => number;
  /** Where the live view goes: the kit's publishView by default. */
  publish?: (view: View) => void;
}

/**
 * Requests queued per peer before libzmq stops reading that peer's connection. A REQ client has
 * one request in flight, so a few are plenty; with AGENT_MAX_MESSAGE_BYTES this bounds what one
 * peer can make the agent hold (16 x 128 KiB = 2 MiB).
 */
export const AGENT_RCVHWM = 16;

/** What the agent has seen, for its log and for tests. */
export interface AgentStats {
  /** Messages taken from the socket, and those whose handling failed (each still dropped alone). */
  received: number;
  failed: number;
  /** Requests answered bad-request: not one frame, not MessagePack, no id, wrong version... */
  malformed: number;
  served: number;
  /** Requests chaos answered late on purpose. */
  late: number;
}

/**
 * The node agent: a REP socket answering one query at a time. REP's lock-step suits a read-only
 * inspector: every request gets exactly one reply, on every path, errors included, because a REP
 * socket that skips a reply never receives again. A peer that is not a REQ socket (a DEALER
 * without the empty delimiter) gets nothing: REP discards such a message inside libzmq, and the
 * kit's receive loop takes the spurious wake-up that leaves behind in its stride.
 */
export class NodeAgent {
  private readonly socket = new ReplySocket({ linger: 0, receiveHighWaterMark: AGENT_RCVHWM, ...peerLimits(AGENT_MAX_MESSAGE_BYTES) });
  private cycles = 0;
  readonly stats: AgentStats = { received: 0, failed: 0, malformed: 0, served: 0, late: 0 };
  endpoint = "";
  private last: { cmd: string; ms: number; at: number } | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly hooks: AgentHooks = {},
  ) {}

  async bind(): Promise<string> {
    const bound = await bindAll(this.log.child({ agent: this.config.id, chaos: this.config.chaos ?? false }), {
      endpoint: [this.socket, this.config.bind],
    });
    this.endpoint = bound.endpoint;
    return this.endpoint;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoint) await this.bind();
    this.publishView();
    await runLoops(signal, { sockets: [this.socket], every: [{ ms: AGENT_VIEW_MS, run: () => this.publishView() }] }, () =>
      receiveLoop(this.socket, signal, (frames) => this.reply(frames, signal), { log: this.log, name: "rep", stats: this.stats }),
    );
  }

  /** The agent's live view: where it listens, its chaos, what it served. */
  view(now = Date.now()): View {
    const { served, late, malformed } = this.stats;
    return agentView(
      {
        endpoint: this.endpoint || this.config.bind,
        ...(this.config.chaos ? { chaos: this.config.chaos } : {}),
        served,
        late,
        malformed,
        ...(this.last ? { last: this.last } : {}),
        pid: process.pid,
        startedAt: this.startedAt,
      },
      now,
    );
  }

  private publishView(): void {
    (this.hooks.publish ?? publishView)(this.view());
  }

  /** One request, one reply: REP allows nothing else. */
  private async reply(frames: Buffer[], signal: AbortSignal): Promise<void> {
    const reply = await this.serve(frames, signal);
    if (signal.aborted) return;
    await this.socket.send(encodeReply(reply));
  }

  /** Always a reply: a malformed or unknown request gets an error reply, never silence. */
  async serve(frames: Buffer[], signal?: AbortSignal): Promise<Reply> {
    this.cycles += 1;
    const message = decodeRequest(frames);
    switch (message.kind) {
      case "invalid":
        this.stats.malformed += 1;
        this.log.warn({ reason: message.reason, id: message.id, malformed: this.stats.malformed }, "malformed request");
        return errorReply(message.id, message.code, message.reason);
      case "query": {
        const request = message.request;
        await this.misbehave(request, signal);
        const started = performance.now();
        const reply = await this.answer(request);
        this.stats.served += 1;
        const ms = Math.round(performance.now() - started);
        this.last = { cmd: request.cmd, ms, at: Date.now() };
        this.log.info({ id: request.id, cmd: request.cmd, ok: reply.ok, ms }, "request served");
        this.publishView();
        return reply;
      }
    }
  }

  private async answer(request: Request): Promise<Reply> {
    if (!isCommand(request.cmd)) {
      return errorReply(request.id, "unknown-command", `unknown command "${request.cmd}"; try one of ${COMMANDS.join(", ")}`);
    }
    const args = request.args ?? {};
    try {
      return okReply(request.id, await this.query(request.cmd, args));
    } catch (err) {
      if (err instanceof BadArgs) return errorReply(request.id, "bad-args", err.message);
      this.log.error({ err, cmd: request.cmd }, "query failed");
      return errorReply(request.id, "internal", `${request.cmd} failed: ${(err as Error).message}`);
    }
  }

  private query(cmd: (typeof COMMANDS)[number], args: Record<string, unknown>): unknown {
    switch (cmd) {
      case "ps":
        return ps(args);
      case "mem":
        return mem();
      case "cpu":
        return cpu();
      case "load":
        return load();
      case "uptime":
        return uptime();
      case "disk":
        return disk(args);
      case "info":
        return info(this.config.id, COMMANDS);
    }
  }

  private async misbehave(request: Request, signal?: AbortSignal): Promise<void> {
    const chaos = this.config.chaos;
    if (!chaos || this.cycles <= chaos.afterCycles) return;
    const random = this.hooks.random ?? Math.random;
    if (random() < chaos.crashChance) {
      this.log.warn({ id: request.id, cycle: this.cycles }, "chaos: crashing");
      (this.hooks.crash ?? (() => process.kill(process.pid, "SIGKILL")))();
      return;
    }
    if (random() < chaos.slowChance) {
      this.stats.late += 1;
      this.publishView();
      this.log.warn({ id: request.id, cycle: this.cycles, ms: chaos.slowMs }, "chaos: overloaded, answering late");
      await pause(chaos.slowMs, signal);
    }
  }
}
