/**
 * Service discovery, one interface over two backends: the built-in registry (the `service-registry` role,
 * the default, nothing to install) and real etcd (`--registry etcd://host:port`). Every service registers
 * itself under `/services/{type}/{instance}` with its endpoint and health, under a lease (TTL 60 s, renewed
 * every 30 s by default), and finds the others here: no endpoint literal in any service.
 *
 * Contract shared by both backends (and tested against both):
 * - `register` creates the lease and the key, then renews the lease every `renewMs` until `revoke()` or
 *   `close()`; a renewal that fails (registry down) is retried every `renewMs` and, if the lease expired
 *   meanwhile, the key is written again under a new lease: a service outlives a registry restart.
 * - `find` returns the live records of one type, sorted by instance.
 * - `watch` calls `onChange` with the full current list of a type (or of all types when `type` is
 *   undefined) once at start and after every change (put, delete, lease expiry); it keeps watching across
 *   registry restarts.
 * - A value read from the registry is peer data: decode it with `decodeServiceRecord`, skip what is invalid.
 */
export type Health = "passing" | "warning" | "critical";

export interface ServiceRecord {
  /** Service type, e.g. "ingest-gateway"; a safe name (kit `isSafeName`). */
  type: string;
  /** Instance name, unique within the type; a safe name. */
  instance: string;
  /** ZeroMQ or HTTP endpoint the service can be reached at, e.g. "tcp://10.0.0.5:5101". */
  endpoint: string;
  health: Health;
  /** Small string metadata (e.g. {"http": "http://…:5100"}); at most 16 entries. */
  meta: Record<string, string>;
}

export interface RegistrationOptions {
  /** Lease time to live; default 60,000 ms. */
  ttlMs: number;
  /** Renewal interval; default 30,000 ms. */
  renewMs: number;
}

export interface Registration {
  readonly record: ServiceRecord;
  /** Rewrites the record with a new health (same lease). */
  setHealth(health: Health): Promise<void>;
  /** Stops renewing and deletes the key at once. */
  revoke(): Promise<void>;
}

export type Unwatch = () => void;

export interface Registry {
  register(record: ServiceRecord, options?: Partial<RegistrationOptions>): Promise<Registration>;
  find(type: string): Promise<ServiceRecord[]>;
  watch(type: string | undefined, onChange: (records: ServiceRecord[]) => void): Unwatch;
  /** Revokes this process's registrations (best effort, bounded in time) and closes connections. */
  close(): Promise<void>;
}

export const DEFAULT_REGISTRATION: RegistrationOptions = { ttlMs: 60_000, renewMs: 30_000 };

/** The key a record lives under, in both backends. */
export function serviceKey(type: string, instance: string): string {
  return `/services/${type}/${instance}`;
}

/** Limits on a record (peer data in both backends). */
export const MAX_ENDPOINT_CHARS = 256;
export const MAX_META_ENTRIES = 16;
export const MAX_META_CHARS = 256;
export const HEALTHS: readonly Health[] = ["passing", "warning", "critical"];

/** A record read from the registry (or sent to the built-in one): checked field by field. */
export function decodeServiceRecord(raw: unknown): { ok: true; value: ServiceRecord } | { ok: false; reason: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, reason: "record: a map expected" };
  const r = raw as Record<string, unknown>;
  const safe = (v: unknown) => typeof v === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(v) && v !== "." && v !== "..";
  if (!safe(r.type) || !safe(r.instance)) return { ok: false, reason: "record: type and instance must be safe names" };
  if (typeof r.endpoint !== "string" || r.endpoint.length > MAX_ENDPOINT_CHARS)
    return { ok: false, reason: "record: endpoint text expected" };
  if (!HEALTHS.includes(r.health as Health)) return { ok: false, reason: "record: health passing|warning|critical expected" };
  const meta: Record<string, string> = {};
  if (r.meta !== undefined) {
    if (typeof r.meta !== "object" || r.meta === null || Array.isArray(r.meta)) return { ok: false, reason: "record: meta must be a map" };
    const entries = Object.entries(r.meta as Record<string, unknown>);
    if (entries.length > MAX_META_ENTRIES) return { ok: false, reason: `record: at most ${MAX_META_ENTRIES} meta entries` };
    for (const [k, v] of entries) {
      if (k.length > 64 || typeof v !== "string" || v.length > MAX_META_CHARS)
        return { ok: false, reason: "record: meta values are short strings" };
      meta[k] = v;
    }
  }
  return {
    ok: true,
    value: { type: r.type as string, instance: r.instance as string, endpoint: r.endpoint, health: r.health as Health, meta },
  };
}

/** Sorts records by instance (what `find` and `watch` promise). */
export function byInstance(records: ServiceRecord[]): ServiceRecord[] {
  return [...records].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
}
