/** A burst is reported once nothing new joined it for this long. */
export const BURST_QUIET_MS = 1000;
/** A burst that keeps going is reported at least this often. */
export const BURST_MAX_MS = 5000;
/** Names a burst's report lists at most ("alice, bob, … 3 more"). */
const MAX_NAMES = 4;

export interface BurstReport {
  count: number;
  /** The distinct names the events came with (clients, records), at most a few, in order of arrival. */
  names: string[];
  /** Distinct names beyond those listed. */
  moreNames: number;
}

/**
 * Events that come in bursts (an archivist dies holding 30 records: 30 timeouts within a second)
 * reported as one line with a count instead of one line each: `add` each event, and the report
 * comes once the burst has been quiet for `quietMs` (or every `maxMs` while it lasts). `flush`
 * reports what is pending at once (at shutdown).
 */
export class Burst {
  private count = 0;
  /** Distinct names, in order of arrival (a burst is bounded by the work in flight, so is this). */
  private names = new Set<string>();
  private quiet: NodeJS.Timeout | undefined;
  private longest: NodeJS.Timeout | undefined;

  constructor(
    private readonly report: (burst: BurstReport) => void,
    private readonly quietMs = BURST_QUIET_MS,
    private readonly maxMs = BURST_MAX_MS,
  ) {}

  add(name?: string): void {
    this.count += 1;
    if (name !== undefined) this.names.add(name);
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.flush(), this.quietMs).unref();
    this.longest ??= setTimeout(() => this.flush(), this.maxMs).unref();
  }

  flush(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.longest);
    this.quiet = undefined;
    this.longest = undefined;
    if (this.count === 0) return;
    const names = [...this.names];
    const burst = { count: this.count, names: names.slice(0, MAX_NAMES), moreNames: Math.max(0, names.length - MAX_NAMES) };
    this.count = 0;
    this.names.clear();
    this.report(burst);
  }
}

/** "alice, bob" or "alice, bob, … 3 more": the names of a burst for a log line. */
export function burstNames({ names, moreNames }: BurstReport): string {
  return moreNames > 0 ? `${names.join(", ")}, … ${moreNames} more` : names.join(", ");
}
