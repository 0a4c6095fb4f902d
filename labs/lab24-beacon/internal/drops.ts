import type { Logger } from "@zlabs/kit";

/** At most one warning line about dropped datagrams this often: anyone can flood a UDP port. */
export const DROP_LOG_MS = 1000;

/**
 * Datagrams and messages refused, counted by reason. Each one is logged at debug level (the tests
 * read those); a person gets one warning a second at most, with the counts since the last one, so
 * a flood of junk at the beacon port cannot flood the log.
 */
export class Drops {
  readonly byReason: Record<string, number> = {};
  total = 0;
  private pending: Record<string, number> = {};
  private lastWarn = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  count(reason: string, fields: Record<string, unknown> = {}): void {
    this.total += 1;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    this.pending[reason] = (this.pending[reason] ?? 0) + 1;
    this.log.debug({ ...fields, reason, total: this.total }, `${this.what} dropped`);
    this.flush();
  }

  /** The warning line, when a second has passed since the last one and something was dropped. */
  flush(): void {
    const now = this.now();
    if (now - this.lastWarn < DROP_LOG_MS || Object.keys(this.pending).length === 0) return;
    this.lastWarn = now;
    this.log.warn({ ...this.pending, total: this.total }, `${this.what}s dropped`);
    this.pending = {};
  }
}
