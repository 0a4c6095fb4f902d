// The built-in alert store (the default): a map with expiries, bounded (the alert expiring first is
// dropped when full). Same contract as the Redis store (internal/alert-store.ts).
import { type Alert, type AlertStore, alertKey, type PutResult } from "./alert-store.ts";

export const MAX_ALERTS = 100_000;

export class MemoryAlertStore implements AlertStore {
  private readonly alerts = new Map<string, { alert: Alert; expiresAt: number }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  async put(alert: Alert, ttlMs: number): Promise<PutResult> {
    const key = alertKey(alert);
    const now = this.now();
    const live = this.alerts.get(key);
    if (live && live.expiresAt > now) {
      live.alert = { ...live.alert, count: live.alert.count + 1, lastSeen: Math.max(live.alert.lastSeen, alert.lastSeen) };
      return "duplicate";
    }
    if (!live && this.alerts.size >= MAX_ALERTS) this.evict(now);
    this.alerts.set(key, { alert: { ...alert, count: 1 }, expiresAt: now + ttlMs });
    return "stored";
  }

  private evict(now: number): void {
    let first: string | undefined;
    let at = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.alerts) {
      if (v.expiresAt <= now) {
        this.alerts.delete(k);
        return;
      }
      if (v.expiresAt < at) {
        at = v.expiresAt;
        first = k;
      }
    }
    if (first) this.alerts.delete(first);
  }

  async list(limit: number): Promise<Alert[]> {
    const now = this.now();
    const live: Alert[] = [];
    for (const [k, v] of this.alerts) {
      if (v.expiresAt <= now) this.alerts.delete(k);
      else live.push(v.alert);
    }
    return live.sort((a, b) => b.lastSeen - a.lastSeen).slice(0, Math.max(0, limit));
  }

  async close(): Promise<void> {
    this.alerts.clear();
  }
}
