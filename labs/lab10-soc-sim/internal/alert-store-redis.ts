// The AlertStore interface over Redis (ioredis): one string key per alert, `alerts:<severity>:<rule>:<subject>`,
// holding the alert as JSON with a TTL (PX). A new alert is SET NX PX; a repeat within the TTL runs one Lua
// script, atomic in Redis: count + 1, lastSeen moved forward, the TTL kept (SET ... KEEPTTL). `list` walks
// the keys with SCAN (never KEYS, which blocks Redis), reads them with MGET, and checks every value: what
// comes out of Redis is peer data, and a value that is not an alert is skipped and counted.
import { isInt, isText, type Logger } from "@zlabs/kit";
import { Redis } from "ioredis";
import { type Alert, type AlertStore, alertKey, type PutResult, type Severity } from "./alert-store.ts";

export const ALERT_KEY_PATTERN = "alerts:*";
/** Keys asked per SCAN step, and per MGET. */
export const SCAN_COUNT = 500;
/** A value longer than this is not an alert: skipped unread. */
export const MAX_ALERT_BYTES = 16 * 1024;
/** Deadline of one command; Redis down means put rejects (the sink retries), never hangs. */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;
const SEVERITIES: readonly Severity[] = ["low", "medium", "high", "critical"];

/**
 * KEYS[1] the alert key; ARGV[1] the alert as JSON, ARGV[2] the TTL in ms, ARGV[3] its lastSeen.
 * Returns 1 when stored as new, 0 when it was a duplicate (count + 1, lastSeen = max, TTL kept).
 */
const PUT_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local ok, alert = pcall(cjson.decode, redis.call('GET', KEYS[1]))
if not ok or type(alert) ~= 'table' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
alert.count = (tonumber(alert.count) or 1) + 1
local seen = tonumber(ARGV[3])
if seen > (tonumber(alert.lastSeen) or 0) then alert.lastSeen = seen end
redis.call('SET', KEYS[1], cjson.encode(alert), 'KEEPTTL')
return 0
`;

function isSafeText(v: unknown, max: number): v is string {
  return isText(v, max, 1);
}

/** An alert as read back from Redis, checked field by field. */
export function decodeAlert(text: string): Alert | undefined {
  if (text.length > MAX_ALERT_BYTES) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const a = raw as Record<string, unknown>;
  if (!SEVERITIES.includes(a.severity as Severity)) return undefined;
  if (!isSafeText(a.rule, 64) || !isSafeText(a.subject, 256) || !isText(a.summary, 1024) || !isText(a.eventId, 256)) return undefined;
  if (!isInt(a.firstSeen) || !isInt(a.lastSeen) || !isInt(a.count, 1)) return undefined;
  return {
    severity: a.severity as Severity,
    rule: a.rule,
    subject: a.subject,
    summary: a.summary,
    eventId: a.eventId,
    firstSeen: a.firstSeen,
    lastSeen: a.lastSeen,
    count: a.count,
  };
}

type RedisWithPut = Redis & { lab10PutAlert(key: string, json: string, ttlMs: string, lastSeen: string): Promise<number> };

export class RedisAlertStore implements AlertStore {
  /** Values under alerts:* that were not alerts (skipped by list). */
  invalid = 0;

  constructor(
    private readonly redis: RedisWithPut,
    private readonly log: Logger,
  ) {}

  async put(alert: Alert, ttlMs: number): Promise<PutResult> {
    if (!isInt(ttlMs, 1)) throw new RangeError(`alert TTL must be a positive whole number of ms, got ${ttlMs}`);
    const stored = await this.redis.lab10PutAlert(alertKey(alert), JSON.stringify(alert), String(ttlMs), String(alert.lastSeen));
    return stored === 1 ? "stored" : "duplicate";
  }

  async list(limit: number): Promise<Alert[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await this.redis.scan(cursor, "MATCH", ALERT_KEY_PATTERN, "COUNT", SCAN_COUNT);
      cursor = next;
      for (const key of batch) keys.add(key);
    } while (cursor !== "0");
    const all = [...keys];
    const alerts: Alert[] = [];
    for (let i = 0; i < all.length; i += SCAN_COUNT) {
      const chunk = all.slice(i, i + SCAN_COUNT);
      const values = await this.redis.mget(chunk);
      values.forEach((value, j) => {
        // null: expired between SCAN and MGET.
        if (value === null) return;
        const alert = decodeAlert(value);
        if (alert && alertKey(alert) === chunk[j]) alerts.push(alert);
        else {
          this.invalid += 1;
          this.log.warn({ key: chunk[j], invalid: this.invalid }, "invalid alert value skipped");
        }
      });
    }
    alerts.sort((a, b) => b.lastSeen - a.lastSeen);
    return alerts.slice(0, Math.max(0, limit));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Connects to Redis at `redis://host:port[/db]`; resolves once it answers. */
export async function openRedisAlertStore(url: string, log: Logger): Promise<AlertStore> {
  const storeLog = log.child({ store: "redis" });
  const redis = new Redis(url, {
    lazyConnect: true,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // Reconnect forever, at most a second apart: the sink outlives a Redis restart.
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    maxRetriesPerRequest: 2,
  }) as RedisWithPut;
  redis.defineCommand("lab10PutAlert", { numberOfKeys: 1, lua: PUT_SCRIPT });
  let lastError = "";
  redis.on("error", (err: Error) => {
    // ioredis emits every failed reconnect: log each distinct reason once.
    if (err.message !== lastError) storeLog.warn({ err: err.message }, "redis connection error");
    lastError = err.message;
  });
  redis.on("ready", () => {
    if (lastError) storeLog.info("redis connection back");
    lastError = "";
  });
  await redis.connect();
  return new RedisAlertStore(redis, storeLog);
}
