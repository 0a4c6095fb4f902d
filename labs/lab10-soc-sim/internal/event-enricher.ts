// A pipeline worker (PUSH-PULL): takes events from the gateways, normalises and enriches them (geo of
// both ends), asks a detector for a verdict through lab12's Majordomo broker (as an asynchronous MDP
// client), and pushes the scored event to the alert sinks. It keeps nothing: an event it loses (killed,
// no detector in time) is sent again by its gateway.
import { bindAll, type Logger, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { MdpAsyncClient } from "lab12/async-client";
import { Pull, Push } from "zeromq";
import { decodeEvent, decodeVerdict, encodeEvent, encodeScored } from "./codec.ts";
import type { SecurityEvent } from "./event.ts";
import { geoOf } from "./geo.ts";
import { MAX_EVENT_BYTES } from "./protocol.ts";
import { Service, type ServiceConfig } from "./service.ts";
import { stageView } from "./view.ts";

export const DETECT_TIMEOUT_MS = 3000;
export const MAX_ENRICHING = 512;
export const PUSH_HWM = 10_000;
export const VIEW_MS = 1000;

export interface EnricherConfig {
  service: ServiceConfig;
  port: number;
  detectTimeoutMs: number;
  maxEnriching: number;
  detectService: string;
}

export interface StageStats {
  in: number;
  out: number;
  dropped: number;
  malformed: number;
  busy: number;
  rate: number;
}

/** Normalisation and enrichment, pure: what the enricher adds to an event. */
export function enrich(event: SecurityEvent, now: number): SecurityEvent {
  const out: SecurityEvent = { ...event, enrichedMs: now };
  out.srcGeo = event.srcGeo ?? geoOf(event.srcIp);
  out.dstGeo = event.dstGeo ?? geoOf(event.dstIp);
  if (!out.srcGeo) delete out.srcGeo;
  if (!out.dstGeo) delete out.dstGeo;
  if (!out.timestampMs) out.timestampMs = event.receivedMs || now;
  if (!out.firstSeenMs) out.firstSeenMs = out.timestampMs;
  if (!out.lastSeenMs) out.lastSeenMs = out.firstSeenMs + Math.round(out.durationUs / 1000);
  out.domain = event.domain.toLowerCase();
  out.fileSha256 = event.fileSha256.toLowerCase();
  return out;
}

export class EventEnricher {
  readonly service: Service;
  private readonly pull = new Pull({ linger: 0, ...peerLimits(MAX_EVENT_BYTES) });
  private readonly push = new Push({ linger: 0, sendTimeout: 0, immediate: true, sendHighWaterMark: PUSH_HWM });
  private readonly pushes = new SendQueue(this.push);
  private client: MdpAsyncClient | undefined;
  private brokerEndpoint = "";
  private busy = 0;
  private freed: (() => void) | undefined;
  readonly stats: StageStats = { in: 0, out: 0, dropped: 0, malformed: 0, busy: 0, rate: 0 };
  private lastOut = 0;
  private readonly m;
  endpoint = "";

  constructor(
    private readonly config: EnricherConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("event-enricher", config.service, log);
    this.m = {
      events: this.service.counter("lab10_enricher_events_total", "events by outcome", ["outcome"]),
      busy: this.service.gauge("lab10_enricher_scoring", "events waiting for a verdict"),
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service, config } = this;
    const registry = await service.start();
    this.endpoint = (await bindAll(this.log, { pull: [this.pull, service.bindEndpoint(config.port)] })).pull;
    service.follow("alert-sink", (r) => r.endpoint, this.push);
    const unwatch = registry.watch("detection-broker", (records) => this.useBroker(records[0]?.endpoint));
    service.publishStats(() => ({
      stage: "enrich",
      in: this.stats.in,
      out: this.stats.out,
      dropped: this.stats.dropped + this.stats.malformed,
      busy: this.busy,
    }));
    await service.register(service.advertised(this.endpoint), {}, signal);
    try {
      await runLoops(
        signal,
        {
          sockets: [this.pull, this.push],
          every: [{ ms: VIEW_MS, run: () => this.refresh() }],
          log: this.log,
          onAbort: () => this.freed?.(),
        },
        () => receiveLoop(this.pull, signal, (frames) => this.onEvent(frames, signal), { log: this.log, name: "events" }),
      );
    } finally {
      unwatch();
      this.client?.close();
      await service.close();
    }
  }

  private useBroker(endpoint: string | undefined): void {
    if (!endpoint || endpoint === this.brokerEndpoint) return;
    this.client?.close();
    this.brokerEndpoint = endpoint;
    this.client = new MdpAsyncClient({ broker: endpoint, timeoutMs: this.config.detectTimeoutMs }, this.log);
    this.log.info({ broker: endpoint }, "detection broker found");
  }

  private async onEvent(frames: Buffer[], signal: AbortSignal): Promise<void> {
    const ev = decodeEvent(frames);
    if (!ev.ok) {
      this.stats.malformed += 1;
      this.m.events.inc({ outcome: "malformed" });
      if (this.stats.malformed <= 10 || this.stats.malformed % 100 === 0)
        this.log.warn({ reason: ev.reason, malformed: this.stats.malformed }, "malformed event dropped");
      return;
    }
    this.stats.in += 1;
    // Bounded concurrency: past maxEnriching, stop reading (the gateways' PUSH queues take the backlog).
    while (this.busy >= this.config.maxEnriching && !signal.aborted) await new Promise<void>((r) => (this.freed = r));
    this.busy += 1;
    void this.score(enrich(ev.value, Date.now())).finally(() => {
      this.busy -= 1;
      const f = this.freed;
      this.freed = undefined;
      f?.();
    });
  }

  private async score(event: SecurityEvent): Promise<void> {
    const client = this.client;
    if (!client) return this.drop(event, "no detection broker yet");
    let reply: Buffer[];
    try {
      reply = await client.request(this.config.detectService, encodeEvent(event, this.config.service.codec));
    } catch (err) {
      return this.drop(event, (err as Error).message);
    }
    const verdict = decodeVerdict(reply);
    if (!verdict.ok) return this.drop(event, `bad verdict: ${verdict.reason}`);
    try {
      await this.pushes.send(encodeScored({ event, verdict: verdict.value }, this.config.service.codec));
      this.stats.out += 1;
      this.m.events.inc({ outcome: "scored" });
    } catch {
      this.drop(event, "no alert sink (or all full)");
    }
  }

  private drop(event: SecurityEvent, why: string): void {
    this.stats.dropped += 1;
    this.m.events.inc({ outcome: "dropped" });
    if (this.stats.dropped <= 10 || this.stats.dropped % 100 === 0)
      this.log.warn({ id: event.id, why, dropped: this.stats.dropped }, "event dropped (its gateway sends it again)");
  }

  private refresh(): void {
    this.stats.rate = this.stats.out - this.lastOut;
    this.lastOut = this.stats.out;
    this.stats.busy = this.busy;
    this.m.busy.set(this.busy);
    this.publish(
      stageView(
        "enricher",
        this.config.service.instance,
        this.stats,
        this.brokerEndpoint ? `broker ${this.brokerEndpoint}` : "waiting for a detection broker",
      ),
    );
  }
}
