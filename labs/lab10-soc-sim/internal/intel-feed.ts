// The threat-intel feed: a PUB that sends every indicator once a round, with topics by type
// ("intel.ip", "intel.domain", "intel.hash"), each living three rounds: a detector that joins late
// has them all within one round, and one dropped from the feed expires everywhere on its own.
import { bindAll, type Logger, SendQueue, type View } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { INDICATORS } from "./intel.ts";
import { encodeIndicator, type Indicator } from "./protocol.ts";
import { Service, type ServiceConfig } from "./service.ts";

export const REPUBLISH_MS = 5000;
/** An indicator lives this many rounds at a detector. */
export const TTL_ROUNDS = 3;

export interface IntelFeedConfig {
  service: ServiceConfig;
  port: number;
  republishMs: number;
}

export class IntelFeed {
  readonly service: Service;
  private readonly pub = new Publisher({ linger: 0 });
  /** One writer: a send still pending when the next is made throws EBUSY. */
  private readonly sends = new SendQueue(this.pub);
  rounds = 0;
  endpoint = "";

  constructor(
    private readonly config: IntelFeedConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
    private readonly indicators: Omit<Indicator, "ttlMs">[] = INDICATORS,
  ) {
    this.service = new Service("intel-feed", config.service, log);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service, config } = this;
    await service.start();
    this.endpoint = (await bindAll(this.log, { pub: [this.pub, service.bindEndpoint(config.port)] })).pub;
    const sent = service.counter("lab10_intel_indicators_sent_total", "indicators published", ["kind"]);
    service.publishStats(() => ({ stage: "intel", out: this.rounds * this.indicators.length, indicators: this.indicators.length }));
    await service.register(service.advertised(this.endpoint), {}, signal);
    const round = () => {
      this.rounds += 1;
      for (const i of this.indicators) {
        this.sends.send(encodeIndicator({ ...i, ttlMs: config.republishMs * TTL_ROUNDS })).catch(() => {});
        sent.inc({ kind: i.kind });
      }
      this.publish({
        title: `intel feed: ${this.indicators.length} indicators, round ${this.rounds} (every ${config.republishMs / 1000} s)`,
        columns: ["TOPIC", "VALUE", "SEVERITY", "WHY"],
        rows: this.indicators.map((i) => [
          `intel.${i.kind}`,
          i.value.length > 24 ? `${i.value.slice(0, 21)}...` : i.value,
          { text: i.severity, tone: i.severity === "critical" || i.severity === "high" ? "bad" : "warn" },
          i.reason,
        ]),
      });
    };
    round();
    const timer = setInterval(round, config.republishMs);
    try {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    } finally {
      clearInterval(timer);
      this.pub.close();
      await service.close();
    }
  }
}
