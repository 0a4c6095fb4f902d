// The built-in registry (the default backend, nothing to install): a ROUTER that keeps records under
// leases. A lease not renewed within its TTL expires and takes its keys with it; a client that renews
// an unknown lease (the registry restarted) is told so and registers again.
import { bindAll, type Logger, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Router } from "zeromq";
import { byInstance, type ServiceRecord, serviceKey } from "./registry.ts";
import { decodeRegistryRequest, encodeRegistryReply, MAX_REGISTRY_MESSAGE_BYTES, type RegistryReply } from "./registry-protocol.ts";
import { registryView } from "./view.ts";

/** How often expired leases are swept. */
export const SWEEP_MS = 250;
/** Most keys (records) held at once; more registrations are refused. */
export const MAX_KEYS = 10_000;
export const VIEW_MS = 1000;

export interface ServiceRegistryConfig {
  endpoint: string;
}

interface Lease {
  id: number;
  ttlMs: number;
  expiresAt: number;
  keys: Set<string>;
}

export interface RegistryStats {
  requests: number;
  invalid: number;
  expired: number;
}

export class ServiceRegistry {
  private readonly socket = new Router({ linger: 0, ...peerLimits(MAX_REGISTRY_MESSAGE_BYTES) });
  /** One writer: a reply may still be pending when the next request is answered (EBUSY otherwise). */
  private readonly sends = new SendQueue(this.socket);
  readonly records = new Map<string, { record: ServiceRecord; lease: number }>();
  private readonly leases = new Map<number, Lease>();
  private nextLease = Math.floor(Math.random() * 1_000_000) + 1;
  readonly stats: RegistryStats = { requests: 0, invalid: 0, expired: 0 };
  endpoint = "";

  constructor(
    private readonly config: ServiceRegistryConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  async bind(): Promise<string> {
    this.endpoint = (await bindAll(this.log, { registry: [this.socket, this.config.endpoint] })).registry;
    return this.endpoint;
  }

  async run(signal: AbortSignal, onReady?: () => void): Promise<void> {
    if (!this.endpoint) await this.bind();
    this.log.info({ type: "service-registry", endpoint: this.endpoint }, "ready");
    onReady?.();
    await runLoops(
      signal,
      {
        sockets: [this.socket],
        every: [
          { ms: SWEEP_MS, run: () => this.sweep() },
          {
            ms: VIEW_MS,
            run: () =>
              this.publish(
                registryView(
                  [...this.records.values()].map((r) => r.record),
                  this.stats,
                ),
              ),
          },
        ],
        log: this.log,
      },
      () => receiveLoop(this.socket, signal, (frames) => this.onMessage(frames), { log: this.log, name: "registry" }),
    );
  }

  private reply(identity: Buffer, reply: RegistryReply): void {
    // ROUTER without mandatory: a reply to a peer gone is dropped.
    this.sends.send([identity, encodeRegistryReply(reply)]).catch(() => {});
  }

  onMessage(frames: Buffer[]): void {
    const [identity, ...rest] = frames;
    if (!identity) return;
    const req = decodeRegistryRequest(rest);
    this.stats.requests += 1;
    if (req.kind === "invalid") {
      this.stats.invalid += 1;
      this.log.warn({ reason: req.reason, invalid: this.stats.invalid }, "invalid registry request dropped");
      return;
    }
    const now = this.now();
    switch (req.kind) {
      case "register": {
        const key = serviceKey(req.record.type, req.record.instance);
        if (!this.records.has(key) && this.records.size >= MAX_KEYS) {
          this.reply(identity, { id: req.id, ok: false, error: "registry full" });
          return;
        }
        const lease: Lease = { id: this.nextLease++, ttlMs: req.ttlMs, expiresAt: now + req.ttlMs, keys: new Set([key]) };
        this.leases.set(lease.id, lease);
        this.put(key, req.record, lease.id);
        this.reply(identity, { id: req.id, ok: true, lease: lease.id });
        return;
      }
      case "renew": {
        const lease = this.leases.get(req.lease);
        if (!lease) {
          this.reply(identity, { id: req.id, ok: false, error: "unknown lease" });
          return;
        }
        lease.expiresAt = now + lease.ttlMs;
        this.reply(identity, { id: req.id, ok: true });
        return;
      }
      case "put": {
        const lease = this.leases.get(req.lease);
        if (!lease) {
          this.reply(identity, { id: req.id, ok: false, error: "unknown lease" });
          return;
        }
        const key = serviceKey(req.record.type, req.record.instance);
        lease.keys.add(key);
        this.put(key, req.record, lease.id);
        this.reply(identity, { id: req.id, ok: true });
        return;
      }
      case "revoke": {
        const lease = this.leases.get(req.lease);
        if (lease) this.drop(lease, "revoked");
        this.reply(identity, { id: req.id, ok: true });
        return;
      }
      case "list": {
        const records = [...this.records.values()].map((r) => r.record).filter((r) => req.type === undefined || r.type === req.type);
        this.reply(identity, { id: req.id, ok: true, records: byInstance(records) });
        return;
      }
    }
  }

  private put(key: string, record: ServiceRecord, lease: number): void {
    const before = this.records.get(key);
    // A key re-registered under a new lease leaves the old lease.
    if (before && before.lease !== lease) this.leases.get(before.lease)?.keys.delete(key);
    this.records.set(key, { record, lease });
    if (!before || before.record.health !== record.health || before.record.endpoint !== record.endpoint)
      this.log.info({ key, endpoint: record.endpoint, health: record.health }, before ? "service updated" : "service registered");
  }

  private drop(lease: Lease, why: "revoked" | "expired"): void {
    this.leases.delete(lease.id);
    for (const key of lease.keys) {
      if (this.records.get(key)?.lease !== lease.id) continue;
      this.records.delete(key);
      this.log.info({ key, lease: lease.id }, why === "expired" ? "lease expired: service removed" : "service deregistered");
    }
  }

  sweep(): void {
    const now = this.now();
    for (const lease of [...this.leases.values()]) {
      if (lease.expiresAt > now) continue;
      this.stats.expired += 1;
      this.drop(lease, "expired");
    }
  }
}
