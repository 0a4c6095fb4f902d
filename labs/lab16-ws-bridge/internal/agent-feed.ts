// A feed of lab01 heartbeats for one agent, encoded by lab01's own package (lab01/protocol): its PUB connects to
// the bridge's bound SUB (the bridge is the stable end). Kill it and the page sees the agent die.
import { randomBytes } from "node:crypto";
import { closeSockets, encode, type Logger, pause, peerLimits } from "@zlabs/kit";
import { type Assessment, assess, HostSampler, SteadyLevel } from "lab01/metrics";
import { Publisher } from "zeromq";
import { encodeHeartbeat, type Heartbeat, type Level, MAX_SUBSCRIPTION_BYTES, topicFor } from "./protocol.ts";

/** lab01's beat interval (the Guide's HEARTBEAT_INTERVAL). */
export const HEARTBEAT_INTERVAL_MS = 1000;

export interface AgentFeedConfig {
  agent: string;
  rack: string;
  bridge: string;
  intervalMs: number;
  /** Forces the level (a demo of a critical agent), or undefined: from the host's figures. */
  level: Level | undefined;
}

export class AgentFeed {
  readonly incarnation = randomBytes(8).toString("hex");
  private readonly pub = new Publisher({ linger: 0, ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private seq = 0;
  private level: Level | undefined;
  /** lab01's rules: its thresholds, and a new level sent once it has held for a few beats. */
  private readonly host = new HostSampler();
  private readonly steady = new SteadyLevel();

  constructor(
    private readonly config: AgentFeedConfig,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    this.pub.connect(this.config.bridge);
    this.log.info(
      { agent: this.config.agent, rack: this.config.rack, bridge: this.config.bridge, incarnation: this.incarnation },
      "agent feed started",
    );
    try {
      while (!signal.aborted) {
        await this.beat();
        await pause(this.config.intervalMs, signal);
      }
    } finally {
      closeSockets(this.pub);
    }
  }

  async beat(): Promise<Heartbeat> {
    const metrics = this.host.sample();
    const judged: Assessment = this.config.level
      ? { level: this.config.level, ...(this.config.level === "ok" ? {} : { reason: "simulated" }) }
      : this.steady.next(assess(metrics));
    this.seq += 1;
    const hb: Heartbeat = {
      v: 1,
      agent: this.config.agent,
      rack: this.config.rack,
      incarnation: this.incarnation,
      seq: this.seq,
      sentAt: Date.now(),
      intervalMs: this.config.intervalMs,
      level: judged.level,
      ...(judged.reason ? { reason: judged.reason } : {}),
      metrics,
    };
    // lab01: a beat that changes the level goes twice, on the old level's topic and on the new one.
    if (this.level && this.level !== hb.level) await this.pub.send([topicFor(this.level, hb.rack, hb.agent), encode(hb)]);
    if (this.level !== hb.level) this.log.info({ agent: hb.agent, from: this.level ?? null, to: hb.level }, "level");
    this.level = hb.level;
    await this.pub.send(encodeHeartbeat(hb));
    return hb;
  }
}
