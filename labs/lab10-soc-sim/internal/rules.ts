// The detector's rules, pure and bounded: indicator matches (addresses, domains, file hashes from the
// intel feed), port scans (distinct destination ports per source in a sliding window), rate thresholds
// per source, and statistical outliers on the flow features (running mean and variance, z-score).
import type { RuleHit, SeverityName, Verdict } from "./codec.ts";
import type { SecurityEvent } from "./event.ts";
import type { Indicator } from "./protocol.ts";

export const PORTSCAN_WINDOW_MS = 10_000;
/** Distinct destination ports from one source within the window: a scan. */
export const PORTSCAN_PORTS = 15;
export const RATE_WINDOW_MS = 1000;
/** Events from one source within a second above this: a flood. */
export const RATE_THRESHOLD = 200;
/** Samples before the outlier rule speaks, and the z-score it takes. */
export const OUTLIER_WARMUP = 200;
export const OUTLIER_Z = 6;
/** Sources tracked at once (oldest forgotten first). */
export const MAX_SOURCES = 10_000;
export const MAX_INDICATORS = 100_000;

export const SEVERITY_SCORE: Record<SeverityName, number> = { low: 10, medium: 30, high: 60, critical: 90 };

interface SourceState {
  ports: Map<number, number>;
  times: number[];
  lastSeen: number;
}

class Welford {
  n = 0;
  mean = 0;
  m2 = 0;
  add(x: number): void {
    this.n += 1;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
  z(x: number): number {
    if (this.n < 2) return 0;
    const sd = Math.sqrt(this.m2 / (this.n - 1));
    return sd > 0 ? (x - this.mean) / sd : 0;
  }
}

/** The features the outlier rule watches (log-scaled: flows are heavy-tailed). */
export const OUTLIER_FEATURES = ["flowBytsS", "flowPktsS", "totlenFwdPkts"] as const;

export class Rules {
  readonly indicators = new Map<string, { indicator: Indicator; expiresAt: number }>();
  private readonly sources = new Map<string, SourceState>();
  private readonly stats = new Map<string, Welford>(OUTLIER_FEATURES.map((f) => [f, new Welford()]));
  readonly fired = new Map<string, number>();

  constructor(
    private readonly thresholds = { portscanPorts: PORTSCAN_PORTS, rate: RATE_THRESHOLD, outlierZ: OUTLIER_Z, warmup: OUTLIER_WARMUP },
  ) {}

  /** Keeps an indicator current (a repeat extends its life). */
  addIndicator(i: Indicator, now: number): void {
    const key = `${i.kind}:${i.value}`;
    if (!this.indicators.has(key) && this.indicators.size >= MAX_INDICATORS) return;
    this.indicators.set(key, { indicator: i, expiresAt: now + i.ttlMs });
  }

  expire(now: number): void {
    for (const [k, v] of this.indicators) if (v.expiresAt <= now) this.indicators.delete(k);
    for (const [k, s] of this.sources) if (now - s.lastSeen > PORTSCAN_WINDOW_MS) this.sources.delete(k);
  }

  private intel(kind: string, value: string, now: number): Indicator | undefined {
    if (!value) return undefined;
    const hit = this.indicators.get(`${kind}:${value}`);
    return hit && hit.expiresAt > now ? hit.indicator : undefined;
  }

  private source(ip: string, now: number): SourceState {
    let s = this.sources.get(ip);
    if (!s) {
      if (this.sources.size >= MAX_SOURCES) {
        const oldest = this.sources.keys().next().value as string;
        this.sources.delete(oldest);
      }
      s = { ports: new Map(), times: [], lastSeen: now };
    }
    // Re-insert: the Map's order is the eviction order (least recently seen first).
    this.sources.delete(ip);
    this.sources.set(ip, s);
    s.lastSeen = now;
    return s;
  }

  /** Scores one event; `now` is monotonic ms. */
  score(event: SecurityEvent, now: number, detector: string): Verdict {
    const hits: RuleHit[] = [];
    for (const [ip, side] of [
      [event.srcIp, "source"],
      [event.dstIp, "destination"],
    ] as const) {
      const i = this.intel("ip", ip, now);
      if (i)
        hits.push({ rule: "intel-match", severity: i.severity, subject: ip, summary: `${side} ${ip} is a known-bad address: ${i.reason}` });
    }
    const d = this.intel("domain", event.domain, now);
    if (d)
      hits.push({
        rule: "intel-domain",
        severity: d.severity,
        subject: event.srcIp,
        summary: `${event.srcIp} talked to ${event.domain}: ${d.reason}`,
      });
    const h = this.intel("hash", event.fileSha256, now);
    if (h)
      hits.push({
        rule: "intel-hash",
        severity: h.severity,
        subject: event.srcIp,
        summary: `file ${event.fileSha256.slice(0, 12)}... seen: ${h.reason}`,
      });

    const s = this.source(event.srcIp, now);
    s.ports.set(event.dstPort, now);
    for (const [p, t] of s.ports) if (now - t > PORTSCAN_WINDOW_MS) s.ports.delete(p);
    if (s.ports.size >= this.thresholds.portscanPorts)
      hits.push({
        rule: "port-scan",
        severity: "high",
        subject: event.srcIp,
        summary: `${event.srcIp} probed ${s.ports.size} ports of ${event.dstIp} and others in ${PORTSCAN_WINDOW_MS / 1000} s`,
      });
    s.times.push(now);
    while (s.times.length && now - (s.times[0] as number) > RATE_WINDOW_MS) s.times.shift();
    if (s.times.length > this.thresholds.rate) {
      hits.push({
        rule: "rate-threshold",
        severity: "medium",
        subject: event.srcIp,
        summary: `${event.srcIp} sent ${s.times.length} flows in 1 s`,
      });
      s.times.splice(0, s.times.length - this.thresholds.rate - 1);
    }

    for (const f of OUTLIER_FEATURES) {
      const w = this.stats.get(f) as Welford;
      const x = Math.log1p(Math.max(0, event.features[f] ?? 0));
      const z = w.z(x);
      if (w.n >= this.thresholds.warmup && z > this.thresholds.outlierZ) {
        hits.push({
          rule: "flow-outlier",
          severity: "low",
          subject: event.srcIp,
          summary: `${f} of ${event.srcIp} -> ${event.dstIp} is ${z.toFixed(1)} standard deviations above the mean`,
        });
        break;
      }
      w.add(x);
    }
    for (const hit of hits) this.fired.set(hit.rule, (this.fired.get(hit.rule) ?? 0) + 1);
    const score = Math.min(
      100,
      hits.reduce((a, h) => a + SEVERITY_SCORE[h.severity], 0),
    );
    return { eventId: event.id, score, hits: hits.slice(0, 16), detector };
  }
}
