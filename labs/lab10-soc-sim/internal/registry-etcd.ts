// The Registry interface over real etcd (etcd3, gRPC v3 API): each registration is a key
// `/services/{type}/{instance}` under its own lease, renewed by a keep-alive every renewMs; watches are
// etcd watches on the `/services/` prefix. Values are JSON text (readable with etcdctl) and peer data:
// every value read is checked by decodeServiceRecord and skipped, counted and logged when invalid.
import { isSafeName, type Logger } from "@zlabs/kit";
import { Etcd3, EtcdLeaseInvalidError, type Lease, type Watcher } from "etcd3";
import {
  byInstance,
  DEFAULT_REGISTRATION,
  decodeServiceRecord,
  type Health,
  type Registration,
  type RegistrationOptions,
  type Registry,
  type ServiceRecord,
  serviceKey,
  type Unwatch,
} from "./registry.ts";

export const SERVICES_PREFIX = "/services/";
/** Deadline of one etcd call (a range, a put, a keep-alive): a partitioned etcd does not hang a service. */
export const ETCD_CALL_TIMEOUT_MS = 5_000;
/** Longest wait between two attempts at the first registration, or to re-read a watched list. */
export const ETCD_RETRY_MAX_MS = 1_000;
/** Watch reconnects: first after this, doubling up to ETCD_RETRY_MAX_MS (etcd3's default goes up to 30 s). */
export const WATCH_BACKOFF_MS = 100;
/** A value longer than this is not a record: skipped unread. */
export const MAX_VALUE_BYTES = 8 * 1024;
/** close() revokes this process's registrations, but never waits longer than this for etcd. */
export const CLOSE_TIMEOUT_MS = 2_000;

/** etcd leases count whole seconds. */
export function ttlSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

/** A watch reconnect backoff in the shape etcd3 takes (cockatiel's IBackoff). */
function backoff(duration: number): { duration: number; next(): ReturnType<typeof backoff> } {
  return { duration, next: () => backoff(Math.min(duration * 2, ETCD_RETRY_MAX_MS)) };
}

function sortRecords(records: ServiceRecord[], allTypes: boolean): ServiceRecord[] {
  if (!allTypes) return byInstance(records);
  return byInstance(records).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function checkRecord(record: ServiceRecord): ServiceRecord {
  const checked = decodeServiceRecord(JSON.parse(JSON.stringify(record)));
  if (!checked.ok) throw new Error(`cannot register ${record.type}/${record.instance}: ${checked.reason}`);
  return checked.value;
}

class EtcdRegistration implements Registration {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewed = 0;
  private stopped = false;
  private renewing = false;

  constructor(
    private readonly owner: EtcdRegistry,
    public record: ServiceRecord,
    private readonly options: RegistrationOptions,
    private readonly log: Logger,
  ) {}

  get key(): string {
    return serviceKey(this.record.type, this.record.instance);
  }

  /** Grants a lease and writes the key under it. */
  async write(): Promise<void> {
    const lease = this.owner.client.lease(ttlSeconds(this.options.ttlMs), { autoKeepAlive: false });
    lease.on("lost", () => {});
    try {
      await lease.put(this.key).value(JSON.stringify(this.record));
    } catch (err) {
      lease.release();
      throw err;
    }
    const old = this.lease;
    this.lease = lease;
    this.lastRenewed = Date.now();
    // The key now lives under the new lease; the old one (if any) holds nothing any more.
    if (old) old.revoke({ deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }).catch(() => {});
  }

  start(): void {
    this.timer = setInterval(() => void this.renew(), this.options.renewMs);
    this.timer.unref();
  }

  /** One renewal: a keep-alive; if the lease is gone (expired while etcd was away), a new lease and the key again. */
  async renew(): Promise<void> {
    if (this.stopped || this.renewing) return;
    this.renewing = true;
    try {
      try {
        await this.lease?.keepaliveOnce({ deadline: Date.now() + Math.min(ETCD_CALL_TIMEOUT_MS, this.options.ttlMs) });
        this.lastRenewed = Date.now();
        return;
      } catch (err) {
        const expired = err instanceof EtcdLeaseInvalidError || Date.now() - this.lastRenewed > this.options.ttlMs;
        if (!expired) {
          this.log.warn({ key: this.key, err: (err as Error).message }, "lease renewal failed, retrying");
          return;
        }
      }
      if (this.stopped) return;
      await this.write();
      this.log.info({ key: this.key }, "lease had expired: registered again under a new lease");
    } catch (err) {
      this.log.warn({ key: this.key, err: (err as Error).message }, "registering again failed, retrying");
    } finally {
      this.renewing = false;
    }
  }

  async setHealth(health: Health): Promise<void> {
    this.record = { ...this.record, health };
    const id = await this.lease?.grant();
    await this.owner.client
      .put(this.key)
      .value(JSON.stringify(this.record))
      .lease(id as string);
  }

  async revoke(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.owner.forget(this);
    await this.owner.client.delete().key(this.key);
    await this.lease?.revoke({ deadline: Date.now() + ETCD_CALL_TIMEOUT_MS });
  }
}

class EtcdWatch {
  private watcher: Watcher | undefined;
  private readonly abort = new AbortController();
  private dirty = false;
  private reading = false;

  constructor(
    private readonly owner: EtcdRegistry,
    private readonly type: string | undefined,
    private readonly onChange: (records: ServiceRecord[]) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    const prefix = this.type === undefined ? SERVICES_PREFIX : `${SERVICES_PREFIX}${this.type}/`;
    const watcher = this.owner.client.watch().prefix(prefix).watcher();
    this.watcher = watcher;
    // Any change, and every (re)connection, re-reads the whole list: the callback gets full lists.
    watcher.on("put", () => this.refresh());
    watcher.on("delete", () => this.refresh());
    watcher.on("connected", () => this.refresh());
    watcher.on("disconnected", (err) => this.log.debug({ prefix, err: err.message }, "registry watch disconnected"));
    watcher.on("error", (err) => this.log.warn({ prefix, err: err.message }, "registry watch error"));
    this.refresh();
  }

  /** Reads the list and reports it; reads never overlap, a change during a read reads again. */
  private refresh(): void {
    this.dirty = true;
    if (this.reading) return;
    this.reading = true;
    void (async () => {
      let wait = WATCH_BACKOFF_MS;
      while (this.dirty && !this.abort.signal.aborted) {
        this.dirty = false;
        try {
          const records = await this.owner.read(this.type);
          if (this.abort.signal.aborted) break;
          try {
            this.onChange(records);
          } catch (err) {
            this.log.error({ err }, "registry watch callback threw");
          }
        } catch (err) {
          this.log.debug({ err: (err as Error).message }, "registry watch read failed, retrying");
          this.dirty = true;
          await delay(wait, this.abort.signal);
          wait = Math.min(wait * 2, ETCD_RETRY_MAX_MS);
        }
      }
      this.reading = false;
    })();
  }

  stop(): void {
    this.abort.abort();
    this.owner.forget(this);
    this.watcher?.cancel().catch(() => {});
  }
}

export class EtcdRegistry implements Registry {
  readonly client: Etcd3;
  /** Invalid values seen under /services/ (peer data that did not decode). */
  invalid = 0;
  private readonly registrations = new Set<EtcdRegistration>();
  private readonly watches = new Set<EtcdWatch>();
  private readonly closing = new AbortController();

  constructor(
    endpoints: string[],
    private readonly log: Logger,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: ETCD_CALL_TIMEOUT_MS,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      // HTTP/2 pings find a connection that died silently (a partition), no faster than etcd allows (5 s).
      grpcOptions: { "grpc.keepalive_time_ms": 10_000, "grpc.keepalive_timeout_ms": 5_000 },
      faultHandling: { watchBackoff: backoff(WATCH_BACKOFF_MS) },
    });
  }

  async register(record: ServiceRecord, options: Partial<RegistrationOptions> = {}): Promise<Registration> {
    const checked = checkRecord(record);
    const opts = { ...DEFAULT_REGISTRATION, ...options };
    const registration = new EtcdRegistration(this, checked, opts, this.log);
    // The first registration waits for etcd (a service may start before it): retried until it works or close().
    let wait = 100;
    for (;;) {
      if (this.closing.signal.aborted) throw new Error("registry closed");
      try {
        await registration.write();
        break;
      } catch (err) {
        this.log.warn({ key: registration.key, err: (err as Error).message }, "etcd not reachable yet, retrying the registration");
        await delay(wait, this.closing.signal);
        wait = Math.min(wait * 2, ETCD_RETRY_MAX_MS);
      }
    }
    this.registrations.add(registration);
    registration.start();
    return registration;
  }

  async find(type: string): Promise<ServiceRecord[]> {
    // A type is a safe name: never a path that would widen the prefix read ("a/b", "").
    if (!isSafeName(type)) return [];
    return this.read(type);
  }

  /** The live, valid records of one type (or all), sorted. */
  async read(type: string | undefined): Promise<ServiceRecord[]> {
    const prefix = type === undefined ? SERVICES_PREFIX : `${SERVICES_PREFIX}${type}/`;
    const values = await this.client.getAll().prefix(prefix).buffers();
    const records: ServiceRecord[] = [];
    for (const [key, value] of Object.entries(values)) {
      const record = this.decode(key, value);
      if (record) records.push(record);
    }
    return sortRecords(records, type === undefined);
  }

  private decode(key: string, value: Buffer): ServiceRecord | undefined {
    let reason: string;
    if (value.length > MAX_VALUE_BYTES) {
      reason = `value of ${value.length} bytes`;
    } else {
      let raw: unknown;
      try {
        raw = JSON.parse(value.toString("utf8"));
      } catch {
        raw = undefined;
      }
      const checked = raw === undefined ? { ok: false as const, reason: "not JSON" } : decodeServiceRecord(raw);
      if (checked.ok && serviceKey(checked.value.type, checked.value.instance) === key) return checked.value;
      reason = checked.ok ? "record does not match its key" : checked.reason;
    }
    this.invalid += 1;
    this.log.warn({ key, reason, invalid: this.invalid }, "invalid registry value skipped");
    return undefined;
  }

  watch(type: string | undefined, onChange: (records: ServiceRecord[]) => void): Unwatch {
    if (type !== undefined && !isSafeName(type)) throw new Error(`watch: "${type}" is not a service type`);
    const watch = new EtcdWatch(this, type, onChange, this.log);
    this.watches.add(watch);
    watch.start();
    return () => watch.stop();
  }

  forget(item: EtcdRegistration | EtcdWatch): void {
    if (item instanceof EtcdRegistration) this.registrations.delete(item);
    else this.watches.delete(item);
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const watch of [...this.watches]) watch.stop();
    const revokes = Promise.allSettled([...this.registrations].map((r) => r.revoke()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      void revokes.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.client.close();
  }
}

/** Opens a client of the etcd cluster at these endpoints (http://host:port each). */
export async function openEtcdRegistry(endpoints: string[], log: Logger): Promise<Registry> {
  return new EtcdRegistry(endpoints, log.child({ registry: "etcd" }));
}
