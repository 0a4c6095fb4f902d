/**
 * Where the alert sink keeps alerts: de-duplicated, each with an expiry. One interface, two backends:
 * built in (memory, the default) and Redis (`--store redis://host:port`), with keys as the seed systems kept
 * them in Valkey: `alerts:<severity>:<rule>:<subject>` holding the alert as JSON, with a TTL.
 *
 * Contract shared by both backends (and tested against both):
 * - `put` stores the alert under its key with `ttlMs` unless the key is live; a repeat within the TTL is a
 *   duplicate: it is not stored again, its `count` goes up by one and `lastSeen` moves; the result says which.
 * - `list` returns the live alerts, newest `lastSeen` first, at most `limit`.
 * - An expired alert is gone from `list` and a new one with the same key is stored as new.
 */
export type Severity = "low" | "medium" | "high" | "critical";

export interface Alert {
  severity: Severity;
  /** Rule that fired, e.g. "port-scan", "intel-match"; a safe name. */
  rule: string;
  /** What the alert is about (usually the source address); part of the dedup key. */
  subject: string;
  summary: string;
  /** Event that raised it first, and its trace id when it has one. */
  eventId: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export type PutResult = "stored" | "duplicate";

export interface AlertStore {
  put(alert: Alert, ttlMs: number): Promise<PutResult>;
  list(limit: number): Promise<Alert[]>;
  close(): Promise<void>;
}

export function alertKey(alert: Pick<Alert, "severity" | "rule" | "subject">): string {
  return `alerts:${alert.severity}:${alert.rule}:${alert.subject}`;
}
