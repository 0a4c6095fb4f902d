/**
 * One gossip node's logic, without sockets: SWIM membership, the LWW map with anti-entropy, the
 * coordinator election and the Berkeley clock sync. Time, randomness and the network are injected
 * (NodeIo, NodeClock), so the same core runs in the processes (internal/gossip-node.ts) and by
 * the dozen in a seeded simulation (test/simulation.test.ts).
 */
import { berkeleyRound, estimateOffset, type Sample } from "./berkeley.ts";
import { LwwMap } from "./lww-map.ts";
import { type Member, type MemberEvent, Membership, type SwimConfig } from "./membership.ts";
import { type BusMessage, type Entry, MAX_DELTA_ENTRIES, type MailMessage, type MemberRecord, type NodeStatus } from "./protocol.ts";

export interface CoreConfig extends SwimConfig {
  id: string;
  rank: number;
  /** This node's endpoints as others reach them. */
  pub: string;
  mailbox: string;
  /** Mailboxes to JOIN until a member answers from there. */
  seeds: string[];
  /** How often a JOIN goes to a seed that is not a live member. */
  joinMs: number;
  /** A DIGEST to one random member this often: an anti-entropy round. */
  antiEntropyMs: number;
  /** The coordinator runs a Berkeley round this often. */
  syncMs: number;
  /** Clock readings farther than this from the median are left out of the average. */
  outlierMs: number;
  /** A tombstone is forgotten this long after it was learned. */
  tombstoneMs: number;
  /** This node's clock error: added to the host clock (the demo's --clock-skew-ms). */
  skewMs: number;
  /** Incarnation to start at (one above the last one persisted). */
  inc: number;
}

export interface NodeClock {
  /** Monotonic ms, for every timer. */
  now(): number;
  /** The host's wall clock in ms: the node's physical clock before its skew and corrections. */
  wall(): number;
}

export type NodeEvent =
  | MemberEvent
  | { kind: "coordinator"; coordinator: string; previous: string }
  | { kind: "announced"; coordinator: string; from: string }
  | { kind: "applied"; entry: Entry; via: "bus" | "delta" | "local" }
  | { kind: "sync-round"; round: number; averageMs: number; outliers: string[]; clocks: number }
  | { kind: "adjusted"; round: number; adjustMs: number; offsetMs: number }
  | { kind: "dropped"; reason: string; expected: boolean }
  | { kind: "collected"; keys: string[] }
  | { kind: "round"; round: number; digest: string; live: number };

export interface NodeIo {
  send(mailbox: string, message: MailMessage): void;
  publish(message: BusMessage): void;
  /** Called for every entry applied (to persist it). */
  applied(entry: Entry): void;
  event(e: NodeEvent): void;
}

/** Counters the view and the bench read. */
export interface CoreStats {
  published: number;
  busApplied: number;
  deltaEntriesSent: number;
  deltaApplied: number;
  digestsSent: number;
  rounds: number;
  syncRounds: number;
  dropped: number;
}

interface SyncRound {
  round: number;
  sentAt: Map<string, number>;
  samples: Sample[];
  deadline: number;
}

export class NodeCore {
  readonly map = new LwwMap();
  readonly membership: Membership;
  readonly stats: CoreStats = {
    published: 0,
    busApplied: 0,
    deltaEntriesSent: 0,
    deltaApplied: 0,
    digestsSent: 0,
    rounds: 0,
    syncRounds: 0,
    dropped: 0,
  };
  coordinator: string;
  /** The coordinator as last announced on `servers.` (by itself), or "" before any. */
  announced = "";
  /** The sum of the Berkeley corrections applied to this node's clock. */
  correctionMs = 0;
  private nextAntiEntropy: number;
  private nextJoin = 0;
  private nextSync: number;
  private sync: SyncRound | undefined;
  private syncRoundNo = 0;
  private lastCollect = 0;

  constructor(
    readonly config: CoreConfig,
    private readonly clock: NodeClock,
    private readonly random: () => number,
    private readonly io: NodeIo,
  ) {
    const self: MemberRecord = {
      id: config.id,
      inc: config.inc,
      state: "alive",
      rank: config.rank,
      pub: config.pub,
      mailbox: config.mailbox,
    };
    this.membership = new Membership(self, config, random, { send: io.send, event: (e) => this.onMember(e) });
    this.coordinator = config.id;
    const now = clock.now();
    this.nextAntiEntropy = now + random() * config.antiEntropyMs;
    this.nextSync = now + config.syncMs;
  }

  get id(): string {
    return this.config.id;
  }

  get inc(): number {
    return this.membership.self.inc;
  }

  /** This node's clock: the host's, plus its skew and the Berkeley corrections. */
  physical(): number {
    return this.clock.wall() + this.config.skewMs + this.correctionMs;
  }

  /** This clock's offset from the host's clock, in ms. */
  offsetMs(): number {
    return this.config.skewMs + this.correctionMs;
  }

  /** An entry read from this node's store at start: merged, not persisted again, not published. */
  replay(entry: Entry): void {
    this.map.merge(entry, this.clock.now());
  }

  /** A write from the admin: applied, persisted, published once by this node (its origin). */
  write(key: string, value: string | undefined): Entry | undefined {
    const entry = this.map.write(key, value, this.id, this.clock.now());
    if (!entry) return undefined;
    this.io.applied(entry);
    this.stats.published += 1;
    this.io.publish({ kind: "update", from: this.id, entry });
    this.io.event({ kind: "applied", entry, via: "local" });
    return entry;
  }

  private onMember(e: MemberEvent): void {
    this.io.event(e);
    this.elect();
  }

  /** The live node with the lowest (rank, id): suspects count as live, so a suspicion alone does not move it. */
  private elect(): void {
    let best: { id: string; rank: number } = { id: this.id, rank: this.config.rank };
    for (const m of this.membership.live())
      if (m.rank < best.rank || (m.rank === best.rank && m.id < best.id)) best = { id: m.id, rank: m.rank };
    if (best.id === this.coordinator) return;
    const previous = this.coordinator;
    this.coordinator = best.id;
    this.sync = undefined;
    this.io.event({ kind: "coordinator", coordinator: best.id, previous });
    if (best.id === this.id) this.nextSync = this.clock.now();
  }

  handleBus(message: BusMessage): void {
    if (message.kind === "servers") {
      if (message.from !== message.coordinator) {
        this.drop("a coordinator announced by another node");
        return;
      }
      if (this.announced !== message.coordinator) {
        this.announced = message.coordinator;
        this.io.event({ kind: "announced", coordinator: message.coordinator, from: message.from });
      }
      return;
    }
    if (message.entry.origin === this.id) return; // Our own write, echoed: nothing to learn.
    if (this.map.merge(message.entry, this.clock.now()) === "applied") {
      this.stats.busApplied += 1;
      this.io.applied(message.entry);
      this.io.event({ kind: "applied", entry: message.entry, via: "bus" });
    }
  }

  private member(id: string): Member | undefined {
    const m = this.membership.members.get(id);
    return m && m.state !== "dead" ? m : undefined;
  }

  /** Counts a message refused; `expected` when it happens in normal operation (a join, a change of coordinator). */
  private drop(reason: string, expected = false): void {
    this.stats.dropped += 1;
    this.io.event({ kind: "dropped", reason, expected });
  }

  private sendDigest(to: Member, reply: boolean): void {
    this.stats.digestsSent += 1;
    this.io.send(to.mailbox, { kind: "digest", from: this.id, versions: this.map.versions(), reply });
  }

  handleMail(message: MailMessage): void {
    const now = this.clock.now();
    switch (message.kind) {
      case "ping":
      case "ack":
      case "ping-req":
      case "join":
        this.membership.handle(message, now);
        return;
      case "digest": {
        const from = this.member(message.from);
        if (!from) {
          this.drop("a digest from a node that is not a live member", true);
          return;
        }
        const newer = this.map.newerThan(message.versions);
        for (let i = 0; i < newer.length; i += MAX_DELTA_ENTRIES) {
          const entries = newer.slice(i, i + MAX_DELTA_ENTRIES);
          this.stats.deltaEntriesSent += entries.length;
          this.io.send(from.mailbox, { kind: "delta", from: this.id, entries });
        }
        // Push-pull: the sender has something this node lacks, so it gets our digest back.
        if (message.reply && this.map.behind(message.versions)) this.sendDigest(from, false);
        return;
      }
      case "delta":
        for (const entry of message.entries) {
          if (this.map.merge(entry, now) !== "applied") continue;
          this.stats.deltaApplied += 1;
          this.io.applied(entry);
          this.io.event({ kind: "applied", entry, via: "delta" });
        }
        return;
      case "time-request": {
        const from = this.member(message.from);
        if (!from || from.id !== this.coordinator) {
          this.drop("a clock request from a node that is not the coordinator", true);
          return;
        }
        this.io.send(from.mailbox, { kind: "time", from: this.id, round: message.round, clock: this.physical() });
        return;
      }
      case "time": {
        const s = this.sync;
        const sentAt = s?.sentAt.get(message.from);
        if (!s || s.round !== message.round || sentAt === undefined) {
          this.drop("a clock reading for no round under way", true);
          return;
        }
        s.sentAt.delete(message.from);
        const receivedAt = this.physical();
        s.samples.push({ id: message.from, offsetMs: estimateOffset(message.clock, sentAt, receivedAt), rttMs: receivedAt - sentAt });
        if (s.sentAt.size === 0) this.finishSync();
        return;
      }
      case "adjust":
        if (message.from !== this.coordinator) {
          this.drop("a clock adjustment from a node that is not the coordinator");
          return;
        }
        this.adjust(message.round, message.adjustMs);
        return;
    }
  }

  private adjust(round: number, adjustMs: number): void {
    this.correctionMs += adjustMs;
    this.io.event({ kind: "adjusted", round, adjustMs, offsetMs: this.offsetMs() });
  }

  private startSync(now: number): void {
    const members = this.membership.live();
    this.syncRoundNo += 1;
    const s: SyncRound = {
      round: this.syncRoundNo,
      sentAt: new Map(),
      samples: [],
      deadline: now + Math.min(this.config.syncMs / 2, 2000),
    };
    this.sync = s;
    for (const m of members) {
      s.sentAt.set(m.id, this.physical());
      this.io.send(m.mailbox, { kind: "time-request", from: this.id, round: s.round });
    }
    if (members.length === 0) this.sync = undefined;
  }

  private finishSync(): void {
    const s = this.sync;
    if (!s) return;
    this.sync = undefined;
    this.stats.syncRounds += 1;
    const result = berkeleyRound(this.id, s.samples, this.config.outlierMs);
    this.io.event({
      kind: "sync-round",
      round: s.round,
      averageMs: result.averageMs,
      outliers: result.outliers,
      clocks: s.samples.length + 1,
    });
    for (const sample of s.samples) {
      const m = this.member(sample.id);
      const adjustMs = result.adjustments.get(sample.id) ?? 0;
      if (m) this.io.send(m.mailbox, { kind: "adjust", from: this.id, round: s.round, adjustMs });
    }
    const own = result.adjustments.get(this.id) ?? 0;
    if (own !== 0) this.adjust(s.round, own);
  }

  /** Runs every timer that is due: call it often (every few ms in the processes, every step in the simulation). */
  tick(): void {
    const now = this.clock.now();
    this.membership.tick(now);
    if (now >= this.nextAntiEntropy) {
      this.nextAntiEntropy = now + this.config.antiEntropyMs;
      const live = this.membership.live();
      this.stats.rounds += 1;
      this.io.event({ kind: "round", round: this.stats.rounds, digest: this.map.digest(), live: live.length });
      if (live.length > 0) this.sendDigest(live[Math.floor(this.random() * live.length)] as Member, true);
    }
    if (now >= this.nextJoin) {
      this.nextJoin = now + this.config.joinMs;
      const known = new Set(this.membership.live().map((m) => m.mailbox));
      for (const seed of this.config.seeds) if (seed !== this.config.mailbox && !known.has(seed)) this.membership.join(seed);
    }
    if (this.coordinator === this.id) {
      if (this.sync && now >= this.sync.deadline) this.finishSync();
      if (!this.sync && now >= this.nextSync) {
        this.nextSync = now + this.config.syncMs;
        // Announced when it changes, and again each round so a node that joined since hears it.
        this.io.publish({ kind: "servers", from: this.id, coordinator: this.id, rank: this.config.rank, inc: this.inc });
        this.startSync(now);
      }
    }
    if (now - this.lastCollect >= 1000) {
      this.lastCollect = now;
      const keys = this.map.collect(now, this.config.tombstoneMs);
      if (keys.length > 0) this.io.event({ kind: "collected", keys });
    }
  }

  status(): NodeStatus {
    return {
      id: this.id,
      coordinator: this.coordinator,
      digest: this.map.digest(),
      keys: this.map.live().length,
      members: [...this.membership.members.values()].map((m) => ({ id: m.id, state: m.state, inc: m.inc })),
      clockOffsetMs: this.offsetMs(),
    };
  }
}
