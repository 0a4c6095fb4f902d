// The built-in registry's client: the Registry interface over one DEALER to the service-registry role.
// Requests are matched to replies by id and time out; `watch` polls the list every WATCH_MS (so it keeps
// watching across registry restarts); a renewal told "unknown lease" registers again under a new lease.
import { type Logger, peerLimits, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import {
  byInstance,
  DEFAULT_REGISTRATION,
  type Health,
  type Registration,
  type RegistrationOptions,
  type Registry,
  type ServiceRecord,
  type Unwatch,
} from "./registry.ts";
import { decodeRegistryReply, encodeRegistryRequest, MAX_REGISTRY_MESSAGE_BYTES, type RegistryRequest } from "./registry-protocol.ts";

/** How long a request waits for the registry's reply. */
export const REQUEST_TIMEOUT_MS = 2000;
/** How often a watch reads the list again. */
export const WATCH_MS = 300;
/** How long close() spends revoking. */
export const CLOSE_MS = 500;

type Ask = Exclude<RegistryRequest, { kind: "invalid" }>;
type AskBody = Ask extends infer A ? (A extends Ask ? Omit<A, "id"> : never) : never;

interface Answer {
  ok: boolean;
  error?: string;
  lease?: number;
  records?: ServiceRecord[];
}

class BuiltinRegistration implements Registration {
  lease = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly client: BuiltinRegistry,
    public record: ServiceRecord,
    private readonly options: RegistrationOptions,
  ) {}

  async start(): Promise<void> {
    await this.register();
    this.timer = setInterval(() => void this.renew(), this.options.renewMs);
  }

  private async register(): Promise<void> {
    const a = await this.client.ask({ kind: "register", record: this.record, ttlMs: this.options.ttlMs });
    if (!a.ok || !a.lease) throw new Error(`registry refused: ${a.error}`);
    this.lease = a.lease;
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    try {
      const a = await this.client.ask({ kind: "renew", lease: this.lease });
      if (!a.ok && !this.stopped) {
        await this.register();
        this.client.log.info(
          { type: this.record.type, instance: this.record.instance, lease: this.lease },
          "registered again (lease was gone)",
        );
      }
      if (this.failing) this.client.log.info({ endpoint: this.client.endpoint }, "registry reachable again");
      this.failing = false;
    } catch (err) {
      // One line when the renewals start failing, one when they work again: no line per attempt.
      if (!this.failing) this.client.log.warn({ err: (err as Error).message }, "lease renewal failed: retrying every renewal interval");
      this.failing = true;
    }
  }

  async setHealth(health: Health): Promise<void> {
    this.record = { ...this.record, health };
    const a = await this.client.ask({ kind: "put", lease: this.lease, record: this.record });
    if (!a.ok) await this.register();
  }

  async revoke(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.client.forget(this);
    await this.client.ask({ kind: "revoke", lease: this.lease });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

export class BuiltinRegistry implements Registry {
  private readonly socket = new Dealer({ linger: 0, ...peerLimits(MAX_REGISTRY_MESSAGE_BYTES) });
  private readonly sends = new SendQueue(this.socket);
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly registrations = new Set<BuiltinRegistration>();
  private readonly watches = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private loop: Promise<void> | undefined;

  constructor(
    readonly endpoint: string,
    readonly log: Logger,
  ) {
    this.socket.connect(endpoint);
  }

  ask(body: AskBody): Promise<Answer> {
    if (this.socket.closed) return Promise.reject(new Error("registry client closed"));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    this.loop ??= this.receive();
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`registry at ${this.endpoint} did not answer in ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.sends.send(encodeRegistryRequest({ ...body, id } as Ask)).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private async receive(): Promise<void> {
    while (!this.socket.closed) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch {
        if (this.socket.closed) return;
        continue;
      }
      const reply = decodeRegistryReply(frames);
      if (!reply.ok) {
        this.log.warn({ reason: reply.reason }, "malformed registry reply dropped");
        continue;
      }
      const p = this.pending.get(reply.value.id);
      if (!p) continue;
      this.pending.delete(reply.value.id);
      clearTimeout(p.timer);
      p.resolve(reply.value);
    }
  }

  async register(record: ServiceRecord, options: Partial<RegistrationOptions> = {}): Promise<Registration> {
    const reg = new BuiltinRegistration(this, record, { ...DEFAULT_REGISTRATION, ...options });
    await reg.start();
    this.registrations.add(reg);
    return reg;
  }

  forget(reg: BuiltinRegistration): void {
    this.registrations.delete(reg);
  }

  async find(type: string): Promise<ServiceRecord[]> {
    const a = await this.ask({ kind: "list", type });
    if (!a.ok) throw new Error(`registry: ${a.error}`);
    return byInstance(a.records ?? []);
  }

  watch(type: string | undefined, onChange: (records: ServiceRecord[]) => void): Unwatch {
    let last: string | undefined;
    let busy = false;
    const poll = async () => {
      if (busy || this.socket.closed) return;
      busy = true;
      try {
        const a = await this.ask({ kind: "list", type });
        if (!a.ok) return;
        const records = byInstance(a.records ?? []);
        const text = JSON.stringify(records);
        if (text !== last) {
          last = text;
          onChange(records);
        }
      } catch {
        // registry unreachable: keep the last list, try again
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void poll(), WATCH_MS);
    this.watches.add(timer);
    void poll();
    return () => {
      clearInterval(timer);
      this.watches.delete(timer);
    };
  }

  async close(): Promise<void> {
    for (const t of this.watches) clearInterval(t);
    this.watches.clear();
    const regs = [...this.registrations];
    for (const r of regs) r.stop();
    await Promise.race([Promise.allSettled(regs.map((r) => r.revoke())), new Promise((r) => setTimeout(r, CLOSE_MS))]);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error("registry client closed"));
      this.pending.delete(id);
    }
    this.socket.close();
  }
}
