// The AlertStore interface over Redis (ioredis): one string key per alert, `alerts:<severity>:<rule>:<subject>`,
// holding the alert as JSON with a TTL (PX). A new alert is SET NX PX; a repeat within the TTL runs the same
// Lua script, atomic in Redis: count + 1, lastSeen moved forward, the TTL kept (SET ... KEEPTTL). The script
// also keeps two sorted sets beside the alerts: by lastSeen (what `list` reads, newest first, so a list
// costs its limit, not the number of alerts) and by expiry time (what `list` prunes first: an expired
// alert leaves the index). Every value read is checked: what comes out of Redis is peer data, and a value
// that is not an alert is skipped and counted.
import { isInt, isText, type Logger } from "@zlabs/kit";
import { Redis } from "ioredis";
import { type Alert, type AlertStore, alertKey, type PutResult, type Severity } from "./alert-store.ts";

export const ALERT_KEY_PATTERN = "alerts:*";
/** Sorted sets beside the alerts (outside alerts:*): alert keys by lastSeen, and by expiry time (ms). */
export const BY_LAST_SEEN = "lab10:alerts:by-last-seen";
export const BY_EXPIRY = "lab10:alerts:by-expiry";
/** Index entries pruned per list call at most (the rest at the next one). */
export const PRUNE_BATCH = 1_000;
/** A value longer than this is not an alert: skipped unread. */
export const MAX_ALERT_BYTES = 16 * 1024;
/** Deadline of one command; Redis down means put rejects (the sink retries), never hangs. */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;
const SEVERITIES: readonly Severity[] = ["low", "medium", "high", "critical"];

/**
 * KEYS[1] the alert key, KEYS[2] BY_LAST_SEEN, KEYS[3] BY_EXPIRY; ARGV[1] the alert as JSON, ARGV[2] the TTL
 * in ms, ARGV[3] its lastSeen. Returns 1 when stored as new, 0 when it was a duplicate (count + 1,
 * lastSeen = max, TTL kept).
 */
const PUT_SCRIPT = `
local function stored()
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
  redis.call('ZADD', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]), KEYS[1])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return stored() end
local ok, alert = pcall(cjson.decode, redis.call('GET', KEYS[1]))
if not ok or type(alert) ~= 'table' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return stored()
end
alert.count = (tonumber(alert.count) or 1) + 1
local seen = tonumber(ARGV[3])
if seen > (tonumber(alert.lastSeen) or 0) then alert.lastSeen = seen end
redis.call('SET', KEYS[1], cjson.encode(alert), 'KEEPTTL')
redis.call('ZADD', KEYS[2], alert.lastSeen, KEYS[1])
return 0
`;

/** KEYS[1] BY_LAST_SEEN, KEYS[2] BY_EXPIRY; ARGV[1] batch. Drops index entries of expired alerts. */
const PRUNE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, key in ipairs(gone) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
  end
end
return #gone
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

type RedisWithPut = Redis & {
  lab10PutAlert(key: string, byLastSeen: string, byExpiry: string, json: string, ttlMs: string, lastSeen: string): Promise<number>;
  lab10PruneAlerts(byLastSeen: string, byExpiry: string, batch: string): Promise<number>;
};

export class RedisAlertStore implements AlertStore {
  /** Values under alerts:* that were not alerts (skipped by list). */
  invalid = 0;

  constructor(
    private readonly redis: RedisWithPut,
    private readonly log: Logger,
  ) {}

  async put(alert: Alert, ttlMs: number): Promise<PutResult> {
    if (!isInt(ttlMs, 1)) throw new RangeError(`alert TTL must be a positive whole number of ms, got ${ttlMs}`);
    const json = JSON.stringify(alert);
    const stored = await this.redis.lab10PutAlert(alertKey(alert), BY_LAST_SEEN, BY_EXPIRY, json, String(ttlMs), String(alert.lastSeen));
    return stored === 1 ? "stored" : "duplicate";
  }

  async list(limit: number): Promise<Alert[]> {
    if (limit <= 0) return [];
    await this.redis.lab10PruneAlerts(BY_LAST_SEEN, BY_EXPIRY, String(PRUNE_BATCH));
    const alerts: Alert[] = [];
    // Newest first from the index; a key gone meanwhile (expired, not pruned yet) is skipped.
    for (let start = 0; alerts.length < limit; start += limit) {
      const keys = await this.redis.zrevrange(BY_LAST_SEEN, start, start + limit - 1);
      if (keys.length === 0) break;
      const values = await this.redis.mget(keys);
      values.forEach((value, j) => {
        if (value === null || alerts.length >= limit) return;
        const alert = decodeAlert(value);
        if (alert && alertKey(alert) === keys[j]) alerts.push(alert);
        else {
          this.invalid += 1;
          this.log.warn({ key: keys[j], invalid: this.invalid }, "invalid alert value skipped");
        }
      });
    }
    // Entries with equal lastSeen come in key order from Redis; sort by lastSeen only, newest first.
    return alerts.sort((a, b) => b.lastSeen - a.lastSeen);
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
  redis.defineCommand("lab10PutAlert", { numberOfKeys: 3, lua: PUT_SCRIPT });
  redis.defineCommand("lab10PruneAlerts", { numberOfKeys: 2, lua: PRUNE_SCRIPT });
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
