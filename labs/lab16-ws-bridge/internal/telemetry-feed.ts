// A feed of lab04 telemetry samples (topic, MessagePack header, float64 LE values), encoded by
// lab04's own package (lab04/protocol): a few metrics of one site, each a bounded random walk, published in turn.
import { closeSockets, type Logger, pause, peerLimits, seededRandom } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { encodeSample, MAX_SUBSCRIPTION_BYTES } from "./protocol.ts";

/** Time between two samples (all metrics in turn). */
export const SAMPLE_EVERY_MS = 250;

export interface Metric {
  /** `<device>.<metric>`: the topic is `<site>.<device>.<metric>`. */
  name: string;
  units: string;
  min: number;
  max: number;
}

/** The demo's plant: what the page charts. */
export const METRICS: Metric[] = [
  { name: "pump1.flow", units: "m3/h", min: 80, max: 160 },
  { name: "pump1.pressure", units: "bar", min: 2, max: 6 },
  { name: "pump2.flow", units: "m3/h", min: 60, max: 140 },
  { name: "boiler.temp", units: "C", min: 70, max: 95 },
];

export interface TelemetryFeedConfig {
  site: string;
  bridge: string;
  everyMs: number;
  seed: number;
  /** Values per sample (lab04's count, 1-4096). */
  values: number;
}

export class TelemetryFeed {
  private readonly pub = new Publisher({ linger: 0, ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private readonly random: () => number;
  private readonly level: number[];
  private seq = 0;

  constructor(
    private readonly config: TelemetryFeedConfig,
    private readonly log: Logger,
  ) {
    this.random = seededRandom(config.seed);
    this.level = METRICS.map((m) => (m.min + m.max) / 2);
  }

  async run(signal: AbortSignal): Promise<void> {
    this.pub.connect(this.config.bridge);
    this.log.info(
      { site: this.config.site, bridge: this.config.bridge, topics: METRICS.map((m) => `${this.config.site}.${m.name}`) },
      "telemetry feed started",
    );
    try {
      while (!signal.aborted) {
        for (let i = 0; i < METRICS.length && !signal.aborted; i++) await this.sample(i);
        await pause(this.config.everyMs, signal);
      }
    } finally {
      closeSockets(this.pub);
    }
  }

  private async sample(i: number): Promise<void> {
    const m = METRICS[i] as Metric;
    const span = m.max - m.min;
    const values: number[] = [];
    for (let k = 0; k < this.config.values; k++) {
      const next = (this.level[i] as number) + (this.random() - 0.5) * span * 0.08;
      this.level[i] = Math.min(m.max, Math.max(m.min, next));
      values.push(Math.round((this.level[i] as number) * 100) / 100);
    }
    this.seq += 1;
    const topic = `${this.config.site}.${m.name}`;
    const header = {
      v: 1,
      source: `feed-${this.config.site}`,
      seq: this.seq,
      ts: Date.now(),
      units: m.units,
      schema: "f64le",
      count: values.length,
    };
    await this.pub.send(encodeSample({ topic, header, values }));
  }
}
