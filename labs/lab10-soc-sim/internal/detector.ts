// The detector: a Majordomo worker (lab12's MdpWorker) for the "soc.detect" service, found through the
// registry's detection-broker record; it keeps the intel feed's indicators current (a SUB to every
// feed, topic "intel.") and scores each event with the rules. A request it cannot read gets an
// ["invalid", reason] reply (counted), never a crash.
import { type Logger, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { MdpWorker } from "lab12/worker";
import { Subscriber } from "zeromq";
import { type CodecName, decodeEvent, encodeVerdict } from "./codec.ts";
import { decodeIndicator, MAX_NOTICE_BYTES, TOPIC_INTEL } from "./protocol.ts";
import { Rules } from "./rules.ts";
import { Service, type ServiceConfig } from "./service.ts";
import { detectorView } from "./view.ts";

export const SWEEP_MS = 1000;
/** A rule firing again for the same subject is logged at most once in this window. */
export const LOG_WINDOW_MS = 10_000;

export interface DetectorConfig {
  service: ServiceConfig;
  detectService: string;
  heartbeatMs: number;
  liveness: number;
  reconnectMs: number;
}

export interface DetectorStats {
  scored: number;
  invalid: number;
  indicatorsIn: number;
  badIndicators: number;
  rate: number;
}

export class Detector {
  readonly service: Service;
  readonly rules = new Rules();
  private readonly intel = new Subscriber({ linger: 0, ...peerLimits(MAX_NOTICE_BYTES) });
  readonly stats: DetectorStats = { scored: 0, invalid: 0, indicatorsIn: 0, badIndicators: 0, rate: 0 };
  private last = 0;
  private readonly logged = new Map<string, number>();
  private broker = "";
  private workerStop: AbortController | undefined;
  private worker: Promise<void> | undefined;
  private readonly m;

  constructor(
    private readonly config: DetectorConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("detector", config.service, log);
    this.m = {
      verdicts: this.service.counter("lab10_detector_verdicts_total", "events scored"),
      hits: this.service.counter("lab10_detector_rule_hits_total", "rule hits", ["rule"]),
      invalid: this.service.counter("lab10_detector_invalid_total", "requests that were not an event"),
      indicators: this.service.gauge("lab10_detector_indicators", "indicators held"),
    };
  }

  /** One MDP request body -> the reply body. */
  handle(body: Buffer[]): Buffer[] {
    const ev = decodeEvent(body);
    if (!ev.ok) {
      this.stats.invalid += 1;
      this.m.invalid.inc();
      if (this.stats.invalid <= 10 || this.stats.invalid % 100 === 0)
        this.log.warn({ reason: ev.reason, invalid: this.stats.invalid }, "request that is not an event answered invalid");
      return [Buffer.from("invalid"), Buffer.from(ev.reason.slice(0, 200))];
    }
    const verdict = this.rules.score(ev.value, performance.now(), this.config.service.instance);
    this.stats.scored += 1;
    this.m.verdicts.inc();
    for (const h of verdict.hits) {
      this.m.hits.inc({ rule: h.rule });
      // One line per rule and subject a window, not one per event.
      const key = `${h.rule}:${h.subject}`;
      const now = performance.now();
      if ((this.logged.get(key) ?? -Infinity) + LOG_WINDOW_MS <= now) {
        this.logged.set(key, now);
        if (this.logged.size > 1000) this.logged.clear();
        this.log.info({ rule: h.rule, severity: h.severity, subject: h.subject, event: ev.value.id }, "rule fired");
      }
    }
    return encodeVerdict(verdict, this.config.service.codec as CodecName);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service } = this;
    const registry = await service.start();
    this.intel.subscribe(TOPIC_INTEL);
    service.follow("intel-feed", (r) => r.endpoint, this.intel);
    const unwatch = registry.watch("detection-broker", (records) => this.useBroker(records[0]?.endpoint, signal));
    service.publishStats(() => ({
      stage: "detect",
      in: this.stats.scored,
      out: this.stats.scored,
      indicators: this.rules.indicators.size,
      fired: Object.fromEntries(this.rules.fired),
    }));
    await service.register(service.metricsUrl.replace(/\/metrics$/, ""), { service: this.config.detectService }, signal);
    try {
      await runLoops(
        signal,
        {
          sockets: [this.intel],
          every: [{ ms: SWEEP_MS, run: () => this.sweep() }],
          log: this.log,
        },
        () => receiveLoop(this.intel, signal, (frames) => this.onIndicator(frames), { log: this.log, name: "intel" }),
      );
    } finally {
      unwatch();
      this.workerStop?.abort();
      await this.worker;
      await service.close();
    }
  }

  private useBroker(endpoint: string | undefined, signal: AbortSignal): void {
    if (!endpoint || endpoint === this.broker || signal.aborted) return;
    this.broker = endpoint;
    this.workerStop?.abort();
    const stop = new AbortController();
    this.workerStop = stop;
    const { heartbeatMs, liveness, reconnectMs, detectService } = this.config;
    const worker = new MdpWorker({ broker: endpoint, service: detectService, heartbeatMs, liveness, reconnectMs }, this.log);
    this.log.info({ broker: endpoint, service: detectService }, "serving detections through the broker");
    const previous = this.worker;
    this.worker = (async () => {
      await previous;
      await worker.run(stop.signal, async (body) => this.handle(body));
    })().catch((err: unknown) => this.log.error({ err }, "MDP worker ended"));
  }

  private onIndicator(frames: Buffer[]): void {
    const i = decodeIndicator(frames);
    if (!i.ok) {
      this.stats.badIndicators += 1;
      this.log.warn({ reason: i.reason, bad: this.stats.badIndicators }, "malformed indicator dropped");
      return;
    }
    const fresh = !this.rules.indicators.has(`${i.value.kind}:${i.value.value}`);
    this.rules.addIndicator(i.value, performance.now());
    this.stats.indicatorsIn += 1;
    if (fresh) this.log.info({ kind: i.value.kind, value: i.value.value, severity: i.value.severity }, "indicator learnt");
  }

  private sweep(): void {
    this.rules.expire(performance.now());
    this.m.indicators.set(this.rules.indicators.size);
    this.stats.rate = this.stats.scored - this.last;
    this.last = this.stats.scored;
    this.publish(detectorView(this.config.service.instance, this.stats, this.rules, this.broker));
  }
}
