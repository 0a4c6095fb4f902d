/**
 * The Berkeley algorithm, as the coordinator runs it: ask every member for its clock, estimate
 * each one's offset from the round trip (Cristian: the reading stands for the middle of it),
 * average the offsets that are not outliers (farther than a bound from the median), and send each
 * member the correction that brings it to that average, outliers included. Pure: times are given.
 */

export interface Sample {
  id: string;
  /** The member's clock minus the coordinator's, estimated, in ms. */
  offsetMs: number;
  rttMs: number;
}

export interface BerkeleyResult {
  /** The average of the offsets kept (the coordinator's own, 0, among them). */
  averageMs: number;
  /** The members whose offset was left out of the average. */
  outliers: string[];
  /** What each member (and the coordinator) must add to its clock. */
  adjustments: Map<string, number>;
}

/** A member's offset from its reading `clock`, taken between sentAt and receivedAt on the coordinator's clock. */
export function estimateOffset(clock: number, sentAt: number, receivedAt: number): Sample["offsetMs"] {
  return clock + (receivedAt - sentAt) / 2 - receivedAt;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/**
 * One round's corrections. `self` is the coordinator (offset 0). With fewer than three clocks there
 * is no majority to call one of them an outlier, so all are averaged.
 */
export function berkeleyRound(self: string, samples: readonly Sample[], outlierMs: number): BerkeleyResult {
  const all: Sample[] = [{ id: self, offsetMs: 0, rttMs: 0 }, ...samples.filter((s) => s.id !== self)];
  const m = median(all.map((s) => s.offsetMs));
  const outliers = all.length >= 3 ? all.filter((s) => Math.abs(s.offsetMs - m) > outlierMs).map((s) => s.id) : [];
  const kept = all.filter((s) => !outliers.includes(s.id));
  const averageMs = kept.reduce((sum, s) => sum + s.offsetMs, 0) / kept.length;
  const adjustments = new Map(all.map((s) => [s.id, averageMs - s.offsetMs]));
  return { averageMs, outliers, adjustments };
}
