/**
 * A circuit breaker per receiver, as a plain state machine on an injected clock. Closed: requests
 * go through. After `threshold` failures in a row it opens: the receiver is skipped, so readings go
 * straight to the next one without paying a timeout each. After `coolDownMs` it is half-open: one
 * request probes it; success closes it, failure opens it again.
 */
export type BreakerState = "closed" | "open" | "half-open";

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private opened = false;

  constructor(
    private readonly threshold: number,
    private readonly coolDownMs: number,
  ) {}

  state(now: number): BreakerState {
    if (!this.opened) return "closed";
    return now - this.openedAt >= this.coolDownMs ? "half-open" : "open";
  }

  allows(now: number): boolean {
    return this.state(now) !== "open";
  }

  /** While open: ms until the cool-down ends and a probe may go (0 otherwise). */
  probeIn(now: number): number {
    return this.state(now) === "open" ? this.openedAt + this.coolDownMs - now : 0;
  }

  /** Returns true when this success closed an open breaker (its probe got through). */
  success(): boolean {
    const wasOpen = this.opened;
    this.failures = 0;
    this.opened = false;
    return wasOpen;
  }

  /** Returns true when this failure opened the breaker. */
  failure(now: number): boolean {
    this.failures += 1;
    const wasHalfOpen = this.state(now) === "half-open";
    if (wasHalfOpen || this.failures >= this.threshold) {
      const justOpened = !this.opened || wasHalfOpen;
      this.opened = true;
      this.openedAt = now;
      return justOpened;
    }
    return false;
  }
}
