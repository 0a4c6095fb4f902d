/**
 * A gossip node over real sockets: NodeCore (internal/node-core.ts) wired to ZeroMQ and UDP.
 * PUB bound (the bus), ROUTER bound (the mailbox), one SUB connected to every live member's PUB,
 * one DEALER per live member's mailbox (and per seed), UDP beacons on loopback. All state lives
 * in the core, driven from one event loop, so nothing is shared between loops.
 */
import { join } from "node:path";
import {
  bindAll,
  type Logger,
  type LoopStats,
  peerLimits,
  receiveLoop,
  reconnectAfterDrops,
  runLoops,
  SendQueue,
  type View,
} from "@zlabs/kit";
import { Dealer, Publisher, Router, Subscriber } from "zeromq";
import { Discovery } from "./discovery.ts";
import { type CoreConfig, type NodeClock, NodeCore, type NodeEvent } from "./node-core.ts";
import {
  type AdminReply,
  type AdminRequest,
  encodeAdminReply,
  encodeBeacon,
  encodeBus,
  encodeMail,
  fromBus,
  fromMailbox,
  type MailMessage,
  TOPIC_SERVERS,
  TOPIC_UPDATE,
} from "./protocol.ts";
import { readStore, Store } from "./store.ts";
import { nodeView, VIEW_MS } from "./view.ts";

/** Defaults at the Guide's pace (the demo's); the tests pass shorter ones. */
export const PROBE_MS = 1000;
export const ACK_TIMEOUT_MS = 400;
export const SUSPECT_MS = 3000;
export const DEAD_RETAIN_MS = 30_000;
export const INDIRECT_PROBES = 2;
export const RETRANSMIT = 3;
export const JOIN_MS = 1000;
export const ANTI_ENTROPY_MS = 1000;
export const SYNC_MS = 5000;
export const OUTLIER_MS = 1000;
export const TOMBSTONE_MS = 3_600_000;
/** Messages queued to one member's mailbox at most; past it they are dropped (counted), as PUB drops. */
const MAILBOX_HWM = 1000;
/** A clock adjustment at least this large is logged at info (smaller ones at debug). */
const BIG_ADJUST_MS = 20;

export interface GossipNodeConfig extends Omit<CoreConfig, "pub" | "mailbox" | "inc"> {
  /** Address to bind and advertise. */
  host: string;
  pubPort: number;
  mailboxPort: number;
  /** UDP beacon port; 0: no beacons (seeds only). */
  beaconPort: number;
  beaconMs: number;
  storeDir: string;
}

export interface GossipNodeOptions {
  publish?: (view: View) => void;
}

interface Outbox {
  dealer: Dealer;
  queue: SendQueue;
}

export class GossipNode {
  private readonly pub = new Publisher({ linger: 0 });
  private readonly mailbox = new Router({ linger: 0, ...peerLimits() });
  private readonly sub = new Subscriber({ linger: 0, ...peerLimits() });
  private readonly outboxes = new Map<string, Outbox>();
  private readonly subscribed = new Set<string>();
  /** The same, as the list reconnectAfterDrops reads (kept in place). */
  private readonly subscribedList: string[] = [];
  private discovery: Discovery | undefined;
  private core!: NodeCore;
  private store!: Store;
  private readonly mailStats: LoopStats = { received: 0, failed: 0 };
  private readonly busStats: LoopStats = { received: 0, failed: 0 };
  /** Frames dropped as malformed, datagrams that were not beacons, sends to a full mailbox. */
  dropped = { bus: 0, mailbox: 0, beacons: 0, sends: 0 };
  private adminQueue: SendQueue;

  constructor(
    private readonly config: GossipNodeConfig,
    private readonly log: Logger,
    private readonly options: GossipNodeOptions = {},
  ) {
    this.adminQueue = new SendQueue(this.mailbox);
  }

  async run(signal: AbortSignal): Promise<void> {
    const c = this.config;
    const bound = await bindAll(this.log, {
      pub: [this.pub, `tcp://${c.host}:${c.pubPort || "*"}`],
      mailbox: [this.mailbox, `tcp://${c.host}:${c.mailboxPort || "*"}`],
    });
    // A member that sends a frame over the limit is cut off by libzmq for good: connect again.
    reconnectAfterDrops(this.sub, this.subscribedList, this.log);
    this.sub.subscribe(TOPIC_UPDATE);
    this.sub.subscribe(TOPIC_SERVERS);
    this.store = new Store(join(c.storeDir, `${c.id}.jsonl`));
    const replayed = readStore(this.store.path);
    const clock: NodeClock = { now: () => performance.now(), wall: () => Date.now() };
    this.core = new NodeCore({ ...c, pub: bound.pub, mailbox: bound.mailbox, inc: replayed.inc + 1 }, clock, Math.random, {
      send: (to, m) => this.send(to, m),
      publish: (m) => void this.pub.send(encodeBus(m)).catch((err) => this.log.warn({ err }, "publish failed")),
      applied: (e) => this.store.append(e),
      event: (e) => this.onEvent(e),
    });
    for (const e of replayed.entries) this.core.replay(e);
    this.store.compact(this.core.map.all(), this.core.inc);
    this.log.info(
      {
        id: c.id,
        rank: c.rank,
        inc: this.core.inc,
        keys: this.core.map.live().length,
        badLines: replayed.bad,
        digest: this.core.map.digest(),
      },
      "node started",
    );
    if (c.beaconPort > 0) {
      this.discovery = new Discovery(c.beaconPort, (b, from) => {
        if (!b.ok) {
          this.dropped.beacons += 1;
          this.log.debug({ reason: b.reason, from }, "datagram that is not a beacon dropped");
          return;
        }
        if (b.value.id === c.id) return;
        this.core.membership.learn(
          {
            id: b.value.id,
            inc: b.value.inc,
            state: "alive",
            rank: b.value.rank,
            pub: `tcp://${from}:${b.value.pubPort}`,
            mailbox: `tcp://${from}:${b.value.mailboxPort}`,
          },
          performance.now(),
        );
      });
      await this.discovery.open();
    }
    const port = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(":") + 1));
    const beacon = () =>
      this.discovery?.send(
        encodeBeacon({ id: c.id, inc: this.core.inc, mailboxPort: port(bound.mailbox), pubPort: port(bound.pub), rank: c.rank }),
      );
    beacon();
    const tickMs = Math.max(5, Math.min(c.probeMs, c.antiEntropyMs, c.ackTimeoutMs) / 4);
    await runLoops(
      signal,
      {
        sockets: [this.pub, this.mailbox, this.sub],
        log: this.log,
        every: [
          { ms: tickMs, run: () => this.core.tick() },
          ...(this.discovery ? [{ ms: c.beaconMs, run: beacon }] : []),
          { ms: VIEW_MS, run: () => this.options.publish?.(this.view()) },
        ],
        onAbort: () => {
          this.discovery?.close();
          for (const o of this.outboxes.values()) o.dealer.close();
          this.outboxes.clear();
        },
      },
      () => receiveLoop(this.mailbox, signal, (f) => this.onMailbox(f), { log: this.log, name: "mailbox", stats: this.mailStats }),
      () => receiveLoop(this.sub, signal, (f) => this.onBus(f), { log: this.log, name: "bus", stats: this.busStats }),
    );
    this.discovery?.close();
  }

  private onBus(frames: Buffer[]): void {
    const m = fromBus(frames);
    if (m.kind === "invalid") {
      this.dropped.bus += 1;
      this.log.warn({ reason: m.reason, dropped: this.dropped.bus }, "malformed bus message dropped");
      return;
    }
    this.core.handleBus(m);
  }

  private onMailbox(frames: Buffer[]): void {
    const m = fromMailbox(frames);
    switch (m.kind) {
      case "invalid":
        this.dropped.mailbox += 1;
        this.log.warn({ reason: m.reason, dropped: this.dropped.mailbox }, "malformed mailbox message dropped");
        return;
      case "admin":
        this.admin(m.identity, m.request);
        return;
      case "peer":
        this.core.handleMail(m.message);
        return;
    }
  }

  private admin(identity: Buffer, r: AdminRequest): void {
    let reply: AdminReply;
    switch (r.op) {
      case "set":
      case "del": {
        const entry = this.core.write(r.key, r.op === "set" ? r.value : undefined);
        reply = entry ? { ok: true, entry } : { ok: false, error: "the map is full" };
        break;
      }
      case "get": {
        const entry = this.core.map.get(r.key);
        reply = entry ? { ok: true, entry } : { ok: true };
        break;
      }
      case "status":
        reply = { ok: true, status: this.core.status() };
        break;
    }
    this.adminQueue.send([identity, ...encodeAdminReply(reply)]).catch((err) => this.log.warn({ err }, "admin reply failed"));
  }

  /** A message to a mailbox: through that mailbox's DEALER (made on first use), never waiting. */
  private send(mailbox: string, message: MailMessage): void {
    let o = this.outboxes.get(mailbox);
    if (!o) {
      const dealer = new Dealer({ linger: 0, sendTimeout: 0, sendHighWaterMark: MAILBOX_HWM, ...peerLimits() });
      dealer.connect(mailbox);
      o = { dealer, queue: new SendQueue(dealer) };
      this.outboxes.set(mailbox, o);
    }
    o.queue.send(encodeMail(message)).catch(() => {
      this.dropped.sends += 1;
    });
  }

  /** SUBs and DEALERs follow membership: connected to every live member, closed for the others. */
  private reconcile(): void {
    const live = this.core.membership.live();
    const pubs = new Set(live.map((m) => m.pub));
    for (const p of pubs)
      if (!this.subscribed.has(p)) {
        this.sub.connect(p);
        this.subscribed.add(p);
      }
    for (const p of [...this.subscribed])
      if (!pubs.has(p)) {
        this.sub.disconnect(p);
        this.subscribed.delete(p);
      }
    this.subscribedList.splice(0, this.subscribedList.length, ...this.subscribed);
    const keep = new Set([...live.map((m) => m.mailbox), ...this.config.seeds]);
    for (const [endpoint, o] of this.outboxes)
      if (!keep.has(endpoint)) {
        o.dealer.close();
        this.outboxes.delete(endpoint);
      }
  }

  private onEvent(e: NodeEvent): void {
    const log = this.log;
    switch (e.kind) {
      case "joined":
        log.info({ member: e.member.id, inc: e.member.inc, rank: e.member.rank }, "member joined");
        break;
      case "alive":
        log.info({ member: e.member.id, inc: e.member.inc, was: e.was }, "member alive again");
        break;
      case "suspect":
        log.info({ member: e.member.id, inc: e.member.inc }, "member suspect");
        break;
      case "dead":
        log.info({ member: e.member.id, inc: e.member.inc }, "member dead");
        break;
      case "removed":
        log.debug({ member: e.member.id }, "dead member forgotten");
        break;
      case "moved":
        log.info({ member: e.member.id, pub: e.member.pub, mailbox: e.member.mailbox }, "member moved");
        break;
      case "refuted":
        this.store.incarnation(e.inc);
        log.info({ inc: e.inc, rumour: e.state }, "refuted a rumour about this node");
        break;
      case "coordinator":
        log.info({ coordinator: e.coordinator, previous: e.previous }, "coordinator changed");
        break;
      case "announced":
        log.info({ coordinator: e.coordinator }, "coordinator announced");
        break;
      case "applied":
        log.debug(
          {
            key: e.entry.key,
            value: e.entry.value,
            deleted: e.entry.deleted,
            clock: e.entry.clock,
            origin: e.entry.origin,
            via: e.via,
            digest: this.core.map.digest(),
            round: this.core.stats.rounds,
          },
          "entry applied",
        );
        if (e.via === "local")
          log.info({ key: e.entry.key, value: e.entry.value, deleted: e.entry.deleted, clock: e.entry.clock }, "key written");
        return;
      case "sync-round":
        log.info(
          { round: e.round, averageMs: Math.round(e.averageMs * 10) / 10, outliers: e.outliers, clocks: e.clocks },
          "clock sync round",
        );
        return;
      case "adjusted":
        // A correction of a few ms each round is the sync at work; a large one is news.
        log[Math.abs(e.adjustMs) >= BIG_ADJUST_MS ? "info" : "debug"](
          { round: e.round, adjustMs: Math.round(e.adjustMs * 10) / 10, offsetMs: Math.round(e.offsetMs * 10) / 10 },
          "clock adjusted",
        );
        return;
      case "dropped":
        // Counted either way; logged loudly only when it is not part of a join or a change of coordinator.
        log[e.expected ? "debug" : "warn"]({ reason: e.reason, dropped: this.core.stats.dropped }, "message dropped");
        return;
      case "round":
        log.debug({ round: e.round, digest: e.digest, live: e.live }, "anti-entropy round");
        return;
      case "collected":
        log.debug({ keys: e.keys.length }, "tombstones collected");
        return;
    }
    this.reconcile();
  }

  private view(): View {
    const core = this.core;
    const all = core.map.all();
    return nodeView({
      id: core.id,
      rank: this.config.rank,
      inc: core.inc,
      coordinator: core.coordinator,
      announced: core.announced,
      offsetMs: core.offsetMs(),
      digest: core.map.digest(),
      members: [...core.membership.members.values()].map((m) => ({ id: m.id, state: m.state, inc: m.inc, rank: m.rank })),
      keys: all.filter((e) => !e.deleted).map((e) => ({ key: e.key, value: e.value ?? "" })),
      tombstones: all.filter((e) => e.deleted).length,
      published: core.stats.published,
      repaired: core.stats.deltaApplied,
      rounds: core.stats.rounds,
      dropped: core.stats.dropped + this.dropped.bus + this.dropped.mailbox + this.dropped.beacons,
    });
  }
}
