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
