import { closeSockets, type Logger, pause, peerLimits, publishView, type View } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { encodeSample, MAX_SUBSCRIPTION_BYTES, PROTOCOL_VERSION, SCHEMA } from "./protocol.ts";
import { sourceView } from "./view.ts";

export const SAMPLE_INTERVAL_MS = 1000;
/** Each sample carries this many readings taken during the interval. */
export const VALUES_PER_SAMPLE = 4;

const METRICS = [
  { metric: "pressure", units: "bar", base: 6, swing: 0.8 },
  { metric: "temperature", units: "C", base: 48, swing: 5 },
  { metric: "flow", units: "m3/h", base: 120, swing: 15 },
] as const;

export interface SourceConfig {
  id: string;
  site: string;
  devices: number;
  /** The broker's XSUB endpoint. */
  broker: string;
  intervalMs: number;
  /** Publish to this many distinct topics as fast as the socket takes them (memory benchmark); 0: normal. */
  churn: number;
  /** Stop after this many samples (0: run until stopped). */
  limit: number;
}

/**
 * A telemetry source: a plant's devices, each with pressure, temperature and flow, published as
 * [topic, header, payload] on a PUB socket connected to the broker. PUB never waits: with nobody
 * subscribed the samples go nowhere, and the broker's cache is what a late analyst sees.
 * The PUB receives the subscriptions the broker forwards, so it takes none over a subscription's size.
 */
export class TelemetrySource {
  private readonly socket = new Publisher({ linger: 0, ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private seq = 0;
  private readonly level = new Map<string, number>();

  constructor(
    private readonly config: SourceConfig,
    private readonly log: Logger,
    /** Where the live view (one line) goes: the kit's publishView by default. */
    private readonly showView: (view: View) => void = publishView,
  ) {}

  /** The live view: one line, what it publishes, where and how much so far. */
  view(): View {
    const churn = this.config.churn > 0;
    return sourceView({
      site: this.config.site,
      topics: churn ? this.config.churn : this.config.devices * METRICS.length,
      intervalMs: churn ? undefined : this.config.intervalMs,
      broker: this.config.broker,
      samples: this.seq,
    });
  }

  topics(): { topic: string; units: string; base: number; swing: number }[] {
    const out = [];
    for (let d = 1; d <= this.config.devices; d++) {
      for (const m of METRICS)
        out.push({ topic: `${this.config.site}.pump${d}.${m.metric}`, units: m.units, base: m.base, swing: m.swing });
    }
    return out;
  }

  async run(signal: AbortSignal): Promise<void> {
    this.socket.connect(this.config.broker);
    this.log.info({ broker: this.config.broker, site: this.config.site, topics: this.config.churn || this.topics().length }, "publishing");
    this.showView(this.view());
    try {
      if (this.config.churn > 0) await this.churn(signal);
      else await this.publishLoop(signal);
    } finally {
      closeSockets(this.socket);
    }
  }

  private async publishLoop(signal: AbortSignal): Promise<void> {
    const topics = this.topics();
    while (!signal.aborted && (this.config.limit === 0 || this.seq < this.config.limit)) {
      for (const t of topics) {
        const previous = this.level.get(t.topic) ?? t.base;
        const values = Array.from({ length: VALUES_PER_SAMPLE }, () => previous + (Math.random() - 0.5) * t.swing * 0.2);
        this.level.set(t.topic, Math.min(t.base + t.swing, Math.max(t.base - t.swing, values[values.length - 1] as number)));
        await this.publish(t.topic, t.units, values);
      }
      this.log.debug({ seq: this.seq }, "samples published");
      this.showView(this.view());
      if (!(await pause(this.config.intervalMs, signal))) break;
    }
  }

  private async churn(signal: AbortSignal): Promise<void> {
    for (let i = 0; !signal.aborted && (this.config.limit === 0 || this.seq < this.config.limit); i = (i + 1) % this.config.churn) {
      await this.publish(`${this.config.site}.churn.t${i}`, "n", [i]);
      // Let the event loop breathe now and then: signals, timers.
      if (i % 1000 === 0) {
        this.showView(this.view());
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  private publish(topic: string, units: string, values: number[]): Promise<void> {
    this.seq += 1;
    return this.socket.send(
      encodeSample({
        topic,
        header: { v: PROTOCOL_VERSION, source: this.config.id, seq: this.seq, ts: Date.now(), units, schema: SCHEMA, count: values.length },
        values,
      }),
    );
  }
}
