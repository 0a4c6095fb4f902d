import { randomBytes } from "node:crypto";
import { bindAll, closeSockets, type Logger, pause, peerLimits } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { type Assessment, assess, type HostSampler, type Simulation, SteadyLevel, simulate } from "./metrics.ts";
import { encodeHeartbeat, type Heartbeat, type Level, MAX_SUBSCRIPTION_BYTES, PROTOCOL_VERSION, topicFor } from "./protocol.ts";

export interface AgentConfig {
  id: string;
  rack: string;
  bind: string;
  intervalMs: number;
  simulate: Simulation;
}

/**
 * A node's monitor agent: publishes one heartbeat per interval on a PUB socket it binds.
 * PUB never blocks: with no subscriber, or a subscriber that has fallen behind past the
 * high-water mark, heartbeats are dropped. That is right for heartbeats (a stale one is worthless);
 * the dashboard sees the drop as a sequence gap.
 * A PUB still receives from its peers: their subscriptions, which libzmq keeps for filtering. So it
 * takes no message larger than a subscription can sensibly be.
 */
export class MonitorAgent {
  readonly incarnation = randomBytes(8).toString("hex");
  private readonly socket = new Publisher({ linger: 0, ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private seq = 0;
  private level: Level | undefined;
  private readonly steady = new SteadyLevel();
  endpoint = "";

  constructor(
    private readonly config: AgentConfig,
    private readonly sampler: HostSampler,
    private readonly log: Logger,
  ) {}

  async bind(): Promise<string> {
    const log = this.log.child({ agent: this.config.id, rack: this.config.rack, incarnation: this.incarnation });
    this.endpoint = (await bindAll(log, { endpoint: [this.socket, this.config.bind] })).endpoint;
    return this.endpoint;
  }

  /** Publishes until the signal aborts, then closes the socket. */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoint) await this.bind();
    try {
      while (!signal.aborted) {
        await this.beat();
        await pause(this.config.intervalMs, signal);
      }
    } finally {
      closeSockets(this.socket);
    }
  }

  /** Builds and sends one heartbeat. */
  async beat(): Promise<Heartbeat> {
    this.seq += 1;
    const metrics = this.sampler.sample();
    const status: Assessment = simulate(this.steady.next(assess(metrics)), this.config.simulate, this.seq);
    const heartbeat: Heartbeat = {
      v: PROTOCOL_VERSION,
      agent: this.config.id,
      rack: this.config.rack,
      incarnation: this.incarnation,
      seq: this.seq,
      sentAt: Date.now(),
      intervalMs: this.config.intervalMs,
      level: status.level,
      ...(status.reason ? { reason: status.reason } : {}),
      metrics,
    };
    const [topic, body] = encodeHeartbeat(heartbeat);
    const previous = this.level;
    if (previous !== undefined && previous !== status.level) {
      // Also tell the subscribers of the old level, so an alert wall sees the agent leave it
      // instead of waiting for it to fall silent.
      await this.socket.send([topicFor(previous, this.config.rack, this.config.id), body]);
      // Debug: the dashboard reports it (under the demo, one line per change, not two).
      this.log.debug({ from: previous, to: status.level, reason: status.reason }, "level changed");
    }
    this.level = status.level;
    await this.socket.send([topic, body]);
    this.log.debug({ seq: this.seq, level: status.level }, "heartbeat sent");
    return heartbeat;
  }

  close(): void {
    closeSockets(this.socket);
  }
}
