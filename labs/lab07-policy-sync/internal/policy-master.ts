/**
 * The policy master: a CHP server, one of a Binary Star pair (the Guide's clonesrv6).
 *
 * - SNAPSHOT ROUTER (P): ICANHAZ? → KVSYNC... KTHXBAI. Every request is the Binary Star vote: a server
 *   that is not active (or may not become active yet) drops it without a reply; the client times out
 *   and tries the other server, and that request is what turns a passive server active at fail-over.
 * - PUBLISHER PUB (P+1): KVPUB for each update, HUGZ every hugzMs, TTL expiries as deletes.
 * - COLLECTOR SUB (P+2): KVSET from clients (they send to both servers). Active: a new sequence
 *   number, published, stored. Otherwise: the pending list, de-duplicated by uuid (pending.ts).
 * - Passive: a CHP client of the active peer (snapshot, then its publisher), with the whole map; what
 *   it hears clears the pending list. Becoming active: stop following, publish the pending list.
 * - TTL: a key set with ttl=N is deleted N s later by the active server, published as a KVPUB with an
 *   empty value and a new sequence number. The stored copy keeps the absolute expiry; what is
 *   published keeps the relative ttl (as REF).
 */
import { type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, UsageError, type View } from "@zlabs/kit";
import { BinaryStar } from "lab11/binary-star";
import type { BStarState } from "lab11/fsm";
import { Publisher, Router, Subscriber } from "zeromq";
import { mapDigest } from "./acl.ts";
import { CloneClient, chpServer, MAX_FRAME_BYTES, type Server } from "./clone-client.ts";
import { EMPTY, encodeKvMsg, encodeProps, type KvMsg, seqFrame } from "./kvmsg.ts";
import { PendingList } from "./pending.ts";
import { type FromSnapshotClient, type FromUpdater, fromSnapshotClient, fromUpdater, hugz, inSubtree, kthxbai } from "./protocol.ts";
import { type MasterSnapshot, masterView, VIEW_MS } from "./view.ts";

/** The Guide's intervals: HUGZ and the TTL sweep every second. */
export const HUGZ_MS = 1000;
export const TTL_SWEEP_MS = 1000;
/** A pending entry the active peer has not published in this long (while alive) is dropped. */
export const PENDING_TTL_MS = 30_000;
/** A snapshot is abandoned when its client does not read for this long (the ROUTER is mandatory). */
const SNAPSHOT_SEND_TIMEOUT_MS = 5000;
/** Snapshot messages queued per client before a send waits for it to read. */
const SNAPSHOT_HWM = 20_000;
/** Clients listed in the view, the most recent snapshot requests. */
const MAX_CLIENTS_SHOWN = 32;

export interface MasterConfig {
  role: "primary" | "backup";
  /** Our snapshot endpoint P (publisher P+1, collector P+2). */
  endpoint: string;
  /** The peer's snapshot endpoint (its publisher is at +1). */
  peer: string;
  /** Binary Star state link: ours (bound) and the peer's. */
  stateBind: string;
  peerState: string;
  heartbeatMs: number;
  hugzMs: number;
  ttlSweepMs: number;
  serverTtlMs: number;
  pendingTtlMs: number;
  maxKeys: number;
}

/** One key's entry: only what a snapshot sends (the key is the map's key). */
interface Stored {
  seq: bigint;
  body: Buffer;
  ttlS: number;
  /** Monotonic ms when it expires; 0 for never. */
  expiresAt: number;
}

export interface ClientSeen {
  name: string;
  subtree: string;
  keys: number;
  at: number;
}

export interface MasterOptions {
  publish?: (view: View) => void;
  now?: () => number;
}

export class PolicyMaster {
  private readonly snapshot = new Router({
    linger: 0,
    mandatory: true,
    sendTimeout: SNAPSHOT_SEND_TIMEOUT_MS,
    sendHighWaterMark: SNAPSHOT_HWM,
    ...peerLimits(MAX_FRAME_BYTES),
  });
  private readonly publisher = new Publisher({ linger: 0, sendHighWaterMark: 100_000 });
  private readonly collector = new Subscriber({ linger: 0, receiveHighWaterMark: 100_000, ...peerLimits(MAX_FRAME_BYTES) });
  private readonly toClients = new SendQueue(this.publisher);
  readonly bstar: BinaryStar;
  readonly map = new Map<string, Stored>();
  private readonly expiring = new Set<string>();
  seq = 0n;
  readonly pending = new PendingList();
  private follower: { client: CloneClient; stop: AbortController; done: Promise<void> } | undefined;
  /** Monotonic ms of the last message from the peer's publisher (while following it). */
  private peerHeardAt = 0;
  readonly endpoints = { snapshot: "", publisher: "", collector: "", state: "" };
  readonly counts = { published: 0, snapshots: 0, refused: 0, expired: 0, held: 0, duplicates: 0, flushed: 0, dropped: 0, full: 0 };
  readonly clients = new Map<string, ClientSeen>();
  readonly loops: Record<"snapshot" | "collector", LoopStats> = {
    snapshot: { received: 0, failed: 0 },
    collector: { received: 0, failed: 0 },
  };
  private readonly now: () => number;
  private readonly peer: Server;

  constructor(
    private readonly config: MasterConfig,
    private readonly log: Logger,
    private readonly options: MasterOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.peer = chpServer(config.peer);
    this.bstar = new BinaryStar(
      { role: config.role, stateBind: config.stateBind, peerState: config.peerState, heartbeatMs: config.heartbeatMs, now: this.now },
      log,
    );
    this.bstar.onChange((state, previous) => this.onState(state, previous));
  }

  get state(): BStarState {
    return this.bstar.state;
  }

  digest(): string {
    return mapDigest([...this.map].map(([k, s]) => [k, s.body] as [string, Buffer]));
  }

  private binding: Promise<void> | undefined;

  /** Binds the three CHP ports and the state link (run() does it if not done; once, however often called). */
  bind(): Promise<void> {
    this.binding ??= this.bindAll();
    return this.binding;
  }

  private async bindAll(): Promise<void> {
    const own = chpServer(this.config.endpoint);
    const bound: string[] = [];
    for (const [socket, endpoint] of [
      [this.snapshot, own.snapshot],
      [this.publisher, own.publisher],
      [this.collector, own.collector],
    ] as const) {
      try {
        await socket.bind(endpoint);
      } catch (err) {
        const code = (err as { code?: string }).code;
        throw new UsageError(
          `cannot bind ${endpoint}: ${code === "EADDRINUSE" ? "the address is in use (is another instance running?)" : (err as Error).message}`,
        );
      }
      bound.push(socket.lastEndpoint ?? endpoint);
    }
    const state = await this.bstar.bind().catch((err: Error) => {
      throw new UsageError(`cannot bind the state link to ${this.config.stateBind}: ${err.message}`);
    });
    Object.assign(this.endpoints, { snapshot: bound[0], publisher: bound[1], collector: bound[2], state });
    this.log.info({ role: this.config.role, ...this.endpoints, peer: this.config.peer, peerState: this.config.peerState }, "listening");
  }

  snapshotView(): MasterSnapshot {
    const now = this.now();
    const subtrees = new Map<string, number>();
    for (const key of this.map.keys()) {
      const m = /^(\/[^/]+\/[^/]+\/)/.exec(key) ?? /^(\/[^/]+\/)/.exec(key);
      const top = m?.[1] ?? "(other)";
      subtrees.set(top, (subtrees.get(top) ?? 0) + 1);
    }
    return {
      role: this.config.role,
      state: this.state,
      seq: this.seq,
      keys: this.map.size,
      expiring: this.expiring.size,
      subtrees: [...subtrees].sort(([a], [b]) => (a < b ? -1 : 1)),
      clients: [...this.clients.values()].map((c) => ({ ...c, agoMs: now - c.at })),
      pending: this.pending.size,
      following: this.follower ? (this.follower.client.synced ? "synced" : "syncing") : undefined,
      peerHeard: this.bstar.peerHeardAt === undefined ? undefined : now - this.bstar.peerHeardAt,
      counts: { ...this.counts },
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.bind();
    const log = this.log;
    const publish = this.options.publish;
    this.collector.subscribe();
    const bstarDone = this.bstar.run(signal);
    // The pair broken (dual active): stop everything; the error ends the role.
    const stopAll = new AbortController();
    const forward = () => stopAll.abort();
    signal.addEventListener("abort", forward, { once: true });
    bstarDone.catch(() => stopAll.abort());
    try {
      await runLoops(
        stopAll.signal,
        {
          sockets: [this.snapshot, this.publisher, this.collector],
          every: [
            { ms: this.config.hugzMs, run: () => this.sendHugz() },
            { ms: this.config.ttlSweepMs, run: () => this.sweep() },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(masterView(this.snapshotView())) }] : []),
          ],
          onAbort: () => this.follower?.stop.abort(),
          log,
        },
        () =>
          receiveLoop(this.snapshot, stopAll.signal, (f) => this.onSnapshotRequest(fromSnapshotClient(f)), {
            log,
            name: "snapshot",
            stats: this.loops.snapshot,
          }),
        () =>
          receiveLoop(this.collector, stopAll.signal, (f) => this.onUpdate(fromUpdater(f)), {
            log,
            name: "collector",
            stats: this.loops.collector,
          }),
      );
    } finally {
      signal.removeEventListener("abort", forward);
      this.follower?.stop.abort();
      await this.follower?.done;
    }
    await bstarDone;
  }

  // ---- Binary Star ----

  private onState(state: BStarState, previous: BStarState): void {
    if (state === "active") {
      this.stopFollowing();
      const held = this.pending.flush();
      for (const msg of held) this.publishUpdate(msg);
      this.counts.flushed += held.length;
      this.log.info({ from: previous, keys: this.map.size, seq: String(this.seq), flushed: held.length }, "serving as active");
    } else if (state === "passive") this.follow();
  }

  /** Passive: a whole-map CHP client of the active peer, whose updates we apply with its sequence numbers. */
  private follow(): void {
    if (this.follower) return;
    const stop = new AbortController();
    const client = new CloneClient(
      {
        servers: [this.peer],
        subtree: "",
        serverTtlMs: this.config.serverTtlMs,
        maxKeys: this.config.maxKeys,
        name: `${this.config.role}-master`,
      },
      this.log,
      {
        onReceived: (msg) => {
          this.peerHeardAt = this.now();
          this.pending.fromPeer(msg.uuid, this.now());
        },
        onSnapshot: (map, seq, askedAt) => {
          const superseded = this.pending.dropBefore(askedAt);
          this.map.clear();
          this.expiring.clear();
          for (const [key, e] of map) this.store(key, e.seq, e.value, e.ttlS);
          this.seq = seq;
          this.log.info(
            { keys: this.map.size, seq: String(seq), digest: this.digest(), superseded },
            "snapshot from the active peer loaded",
          );
        },
        onUpdate: (msg, ttlS) => {
          this.peerHeardAt = this.now();
          this.seq = msg.seq;
          if (msg.body.length === 0) this.remove(msg.key);
          else this.store(msg.key, msg.seq, msg.body, ttlS);
        },
      },
      this.now,
    );
    const done = client.run(stop.signal).catch((err: unknown) => this.log.error({ err }, "following the peer failed"));
    this.follower = { client, stop, done };
    this.log.info({ peer: this.peer.snapshot }, "passive: following the active peer");
  }

  private stopFollowing(): void {
    if (!this.follower) return;
    this.follower.stop.abort();
    this.follower = undefined;
  }

  // ---- sockets ----

  private async onSnapshotRequest(req: FromSnapshotClient): Promise<void> {
    if (req.kind === "invalid") return this.drop({ client: req.client, reason: req.reason }, "bad snapshot request dropped");
    const name = clientName(req.client);
    if (!this.bstar.vote(this.now())) {
      this.counts.refused += 1;
      this.log.info({ client: name, state: this.state }, "snapshot request refused: not active (the client will try the other server)");
      return;
    }
    // A consistent copy now: entries are replaced, never changed, so the list is the map at `seq`.
    const seq = this.seq;
    const entries: [string, Stored][] = [];
    for (const e of this.map) if (inSubtree(e[0], req.subtree)) entries.push(e);
    const now = this.now();
    try {
      for (const [key, s] of entries) {
        const props = s.expiresAt > 0 ? encodeProps(ttlProps(Math.max(1, Math.ceil((s.expiresAt - now) / 1000)))) : EMPTY;
        await this.snapshot.send([req.client, Buffer.from(key), seqFrame(s.seq), EMPTY, props, s.body]);
      }
      await this.snapshot.send([req.client, ...kthxbai(seq, req.subtree)]);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EHOSTUNREACH" && code !== "EAGAIN") throw err;
      this.log.warn({ client: name, sent: entries.length, code }, "snapshot abandoned: the client is gone or does not read");
      return;
    }
    this.counts.snapshots += 1;
    this.clients.delete(name);
    this.clients.set(name, { name, subtree: req.subtree, keys: entries.length, at: this.now() });
    if (this.clients.size > MAX_CLIENTS_SHOWN) this.clients.delete(this.clients.keys().next().value as string);
    this.log.info({ client: name, subtree: req.subtree, keys: entries.length, seq: String(seq) }, "snapshot sent");
  }

  private onUpdate(msg: FromUpdater): void {
    if (msg.kind === "invalid") {
      this.drop({ reason: msg.reason }, "bad update dropped");
      return;
    }
    const m = msg.msg;
    if (this.state !== "active") {
      if (this.pending.fromClient(m, this.now()) === "duplicate") this.counts.duplicates += 1;
      else this.counts.held += 1;
      return;
    }
    if (m.body.length > 0 && !this.map.has(m.key) && this.map.size >= this.config.maxKeys) {
      this.counts.full += 1;
      this.log.warn({ key: m.key, maxKeys: this.config.maxKeys }, "update refused: the map holds --max-keys keys");
      return;
    }
    this.publishUpdate(m);
  }

  /** Active: a new sequence number, published, then stored. */
  private publishUpdate(m: KvMsg): void {
    this.seq += 1n;
    const msg: KvMsg = { ...m, seq: this.seq };
    this.counts.published += 1;
    this.publish(encodeKvMsg(msg));
    const ttl = Number(m.props.get("ttl") ?? 0);
    if (m.body.length === 0) this.remove(m.key);
    else this.store(m.key, this.seq, m.body, Number.isInteger(ttl) ? ttl : 0);
    this.log.info(
      { key: m.key, seq: String(this.seq), ...(m.body.length === 0 ? { deleted: true } : {}), ...(ttl ? { ttl } : {}) },
      m.body.length === 0 ? "deleted" : "updated",
    );
  }

  private store(key: string, seq: bigint, body: Buffer, ttlS: number): void {
    const expiresAt = ttlS > 0 ? this.now() + ttlS * 1000 : 0;
    this.map.set(key, { seq, body, ttlS, expiresAt });
    if (expiresAt > 0) this.expiring.add(key);
    else this.expiring.delete(key);
  }

  private remove(key: string): void {
    this.map.delete(key);
    this.expiring.delete(key);
  }

  private publish(frames: Buffer[]): void {
    this.toClients.send(frames).catch((err: unknown) => {
      if (!this.publisher.closed) this.log.warn({ err }, "publish failed");
    });
  }

  private sendHugz(): void {
    this.publish(hugz());
  }

  /** Active: expired keys are deleted and the deletes published. Passive: the pending list ages. */
  private sweep(): void {
    const now = this.now();
    if (this.state !== "active") {
      const n = this.pending.expire(now, this.peerHeardAt, this.config.pendingTtlMs);
      if (n > 0) this.log.warn({ dropped: n }, "pending updates the active server never published dropped");
      return;
    }
    for (const key of [...this.expiring]) {
      const s = this.map.get(key);
      if (!s || s.expiresAt > now) continue;
      this.seq += 1n;
      this.counts.expired += 1;
      this.publish(encodeKvMsg({ key, seq: this.seq, uuid: EMPTY, props: new Map(), body: EMPTY }));
      this.remove(key);
      this.log.info({ key, seq: String(this.seq), ttl: s.ttlS }, "expired");
    }
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.counts.dropped += 1;
    this.log.warn({ ...fields, total: this.counts.dropped }, msg);
  }
}

function ttlProps(ttlS: number): Map<string, string> {
  return ttlS > 0 ? new Map([["ttl", String(ttlS)]]) : new Map();
}

/** A client's routing identity as the view shows it: our clients send "name#1a2b", others random bytes. */
function clientName(identity: Buffer): string {
  const text = identity.toString("utf8");
  return /^[\x20-\x7e]{1,64}$/.test(text) ? text : `0x${identity.toString("hex").slice(0, 16)}`;
}
