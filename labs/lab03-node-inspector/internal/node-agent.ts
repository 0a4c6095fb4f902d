import { closeSockets, type Logger, pause } from "@zlabs/kit";
import { Reply as ReplySocket } from "zeromq";
import { BadArgs, cpu, disk, info, load, mem, ps, uptime } from "./host.ts";
import { COMMANDS, decodeRequest, encodeReply, errorReply, isCommand, okReply, type Reply, type Request } from "./protocol.ts";

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
}

/**
 * The node agent: a REP socket answering one query at a time. REP's lock-step suits a read-only
 * inspector: every request gets exactly one reply, on every path, errors included, because a REP
 * socket that skips a reply never receives again.
 */
export class NodeAgent {
  private readonly socket = new ReplySocket({ linger: 0 });
  private cycles = 0;
  endpoint = "";

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly hooks: AgentHooks = {},
  ) {}

  async bind(): Promise<string> {
    await this.socket.bind(this.config.bind);
    this.endpoint = this.socket.lastEndpoint ?? this.config.bind;
    this.log.info({ endpoint: this.endpoint, agent: this.config.id, chaos: this.config.chaos ?? false }, "listening");
    return this.endpoint;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoint) await this.bind();
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const frames of this.socket) {
        const reply = await this.serve(frames, signal);
        if (signal.aborted) break;
        await this.socket.send(encodeReply(reply));
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
    }
  }

  /** Always a reply: a malformed or unknown request gets an error reply, never silence. */
  async serve(frames: Buffer[], signal?: AbortSignal): Promise<Reply> {
    this.cycles += 1;
    const decoded = decodeRequest(frames);
    if (!decoded.ok) {
      this.log.warn({ reason: decoded.reason, id: decoded.id }, "malformed request");
      return errorReply(decoded.id, decoded.code, decoded.reason);
    }
    const request = decoded.request;
    await this.misbehave(request, signal);
    const started = performance.now();
    const reply = await this.answer(request);
    this.log.info({ id: request.id, cmd: request.cmd, ok: reply.ok, ms: Math.round(performance.now() - started) }, "request served");
    return reply;
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
      this.log.warn({ id: request.id, cycle: this.cycles, ms: chaos.slowMs }, "chaos: overloaded, answering late");
      await pause(chaos.slowMs, signal);
    }
  }
}
