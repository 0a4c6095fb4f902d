/**
 * The ring node as a pure state machine: membership (beacons, HELLO, any traffic as presence,
 * expiry), the view and the ring built from it, placement, request handling (serve, forward with a
 * hop limit, replicate, read from the new owner then the old), and the hand-off plan on every view
 * change. Its clock and its transport are injected: the processes run it over ZeroMQ sockets
 * (dht-node.ts), the tests run many nodes in a seeded simulation.
 */
import { type Entry, type Hello, HOP_LIMIT, type Item, newer, type PeerRequest, type Reply, type Routed, XFER_BATCH } from "./protocol.ts";
import { REPLICATION, Ring, VNODES } from "./ring.ts";

/** The Guide's PEER_EXPIRY: a peer silent (no beacon, no TCP traffic) this long has gone. */
export const PEER_EXPIRY_MS = 5000;
/** How long a node waits for a peer's answer (a forward, a replica's ack, a fetch, a hand-off). */
export const PEER_TIMEOUT_MS = 1000;
/** A key a node no longer owns is kept this long after the view change, for reads that go to the old owner. */
export const HANDOFF_GRACE_MS = 10_000;
/** A hand-off batch not acknowledged in time is sent again, this many times. */
export const XFER_ATTEMPTS = 3;
/** The most peers in a view: beacons are unauthenticated, and a flood of made-up uuids must not grow it without bound. */
export const MAX_MEMBERS = 256;
/** Departed uuids remembered (a bound: anyone can send leave beacons with made-up uuids). */
export const MAX_DEPARTED = 1024;

export interface CoreConfig {
  /** This node's uuid, 32 hex digits. */
  id: string;
  endpoint: string;
  name: string;
  replication: number;
  vnodes: number;
  hopLimit: number;
  peerExpiryMs: number;
  peerTimeoutMs: number;
  graceMs: number;
}

export const coreDefaults = {
  replication: REPLICATION,
  vnodes: VNODES,
  hopLimit: HOP_LIMIT,
  peerExpiryMs: PEER_EXPIRY_MS,
  peerTimeoutMs: PEER_TIMEOUT_MS,
  graceMs: HANDOFF_GRACE_MS,
} as const;

/** Where a reply goes: the routing id a request came in with (the core never looks inside). */
export type Origin = Buffer;

export interface Transport {
  /** Open the one DEALER to this peer (whose first message is our HELLO). */
  connect(peer: string, endpoint: string): void;
  disconnect(peer: string): void;
  /** To a peer's mailbox, over our DEALER to it. */
  send(peer: string, request: PeerRequest): void;
  /** Back to whoever sent a request to our mailbox. */
  reply(origin: Origin, reply: Reply): void;
}

export type CoreEvent =
  | { kind: "joined"; peer: string; name: string; endpoint: string; view: number }
  | { kind: "left"; peer: string; name: string; why: "leaving" | "silent"; view: number }
  | { kind: "handed-off"; peer: string; name: string; keys: number }
  | { kind: "took"; peer: string; name: string; keys: number; offered: number }
  | { kind: "released"; keys: number }
  | { kind: "hop-limit"; key: string };

export interface Member {
  id: string;
  endpoint: string;
  name: string;
  lastHeard: number;
  /** It said HELLO on its DEALER to us. */
  hello: boolean;
}

type Pending =
  | { kind: "forward"; origin: Origin; rid: number; request: Routed; candidates: string[]; deadline: number }
  | { kind: "write"; origin: Origin; rid: number; waiting: Set<string>; replicas: number; entry: Entry; deadline: number }
  | { kind: "fetch"; origin: Origin; rid: number; key: string; candidates: string[]; deadline: number; best?: Entry }
  | { kind: "xfer"; peer: string; items: Item[]; attempts: number; deadline: number };

export interface CoreCounters {
  served: number;
  forwarded: number;
  hopLimited: number;
  handedOff: number;
  took: number;
  released: number;
  lateReplies: number;
}

export class RingNode {
  readonly members = new Map<string, Member>();
  /** Nodes that said they were leaving, most recent last. */
  private readonly departed = new Set<string>();
  readonly store = new Map<string, Entry>();
  ring: Ring;
  /** The ring before the last view change: where the old owners are. */
  previousRing: Ring;
  /** Keys this node holds but no longer owns, and when that began. */
  private readonly releasing = new Map<string, number>();
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;
  leaving = false;
  private readonly bornAt: number;
  readonly counters: CoreCounters = { served: 0, forwarded: 0, hopLimited: 0, handedOff: 0, took: 0, released: 0, lateReplies: 0 };
  /** The last view change, for the live view: who came or went, keys taken and handed off since. */
  lastChange: { at: number; peer: string; name: string; sign: "+" | "-"; took: number; handed: number } | undefined;

  constructor(
    readonly config: CoreConfig,
    private readonly transport: Transport,
    private readonly now: () => number,
    private readonly onEvent: (e: CoreEvent) => void = () => {},
  ) {
    this.ring = new Ring([config.id], config.vnodes);
    this.previousRing = this.ring;
    this.bornAt = now();
  }

  get id(): string {
    return this.config.id;
  }

  nameOf(id: string): string {
    return id === this.id ? this.config.name : (this.members.get(id)?.name ?? id.slice(0, 8));
  }

  /** Hand-off batches not yet acknowledged. */
  get handoffsPending(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.kind === "xfer") n += 1;
    return n;
  }

  /** Keys this node is the primary of, and keys it holds as another replica (tombstones left out). */
  holdings(): { primary: number; replica: number; releasing: number } {
    let primary = 0;
    let replica = 0;
    for (const [key, e] of this.store) {
      if (e.deleted) continue;
      const owners = this.ring.ownersOf(key, this.config.replication);
      if (owners[0] === this.id) primary += 1;
      else if (owners.includes(this.id)) replica += 1;
    }
    return { primary, replica, releasing: this.releasing.size };
  }

  // ---- membership ------------------------------------------------------------------------

  /**
   * A beacon: a peer's mailbox endpoint, or undefined when it says it is leaving (port 0). A node
   * that left never comes back under its uuid (a restarted node draws a new one), so a beacon it
   * sent before its leave and delivered after it does not bring it back.
   */
  beacon(id: string, endpoint: string | undefined): void {
    if (id === this.id || this.departed.has(id)) return;
    if (endpoint === undefined) {
      this.departed.add(id);
      if (this.departed.size > MAX_DEPARTED) this.departed.delete(this.departed.values().next().value as string);
      if (this.members.has(id)) this.remove(id, "leaving");
      return;
    }
    this.present(id, endpoint, undefined);
  }

  /** A HELLO on a peer's DEALER: presence over TCP, and its endpoint so we can connect back. */
  hello(h: Hello): void {
    if (h.id === this.id || this.departed.has(h.id)) return;
    this.present(h.id, h.endpoint, h.name);
    const m = this.members.get(h.id);
    if (m) m.hello = true;
  }

  /** Any message from a peer counts as presence (ch8: UDP is dropped under TCP load). */
  heard(id: string): void {
    const m = this.members.get(id);
    if (m) m.lastHeard = this.now();
  }

  /** Whether a peer has said HELLO: its other messages are taken only after. */
  greeted(id: string): boolean {
    return this.members.get(id)?.hello === true;
  }

  private present(id: string, endpoint: string, name: string | undefined): void {
    const known = this.members.get(id);
    if (known) {
      known.lastHeard = this.now();
      if (name) known.name = name;
      if (known.endpoint !== endpoint) {
        known.endpoint = endpoint;
        this.transport.disconnect(id);
        this.transport.connect(id, endpoint);
      }
      return;
    }
    if (this.leaving || this.members.size >= MAX_MEMBERS) return;
    const member: Member = { id, endpoint, name: name ?? id.slice(0, 8), lastHeard: this.now(), hello: false };
    this.members.set(id, member);
    this.transport.connect(id, endpoint);
    this.onEvent({ kind: "joined", peer: id, name: member.name, endpoint, view: this.members.size + 1 });
    this.viewChanged(id, "+");
  }

  private remove(id: string, why: "leaving" | "silent"): void {
    const m = this.members.get(id);
    if (!m) return;
    this.members.delete(id);
    this.transport.disconnect(id);
    this.onEvent({ kind: "left", peer: id, name: m.name, why, view: this.members.size + 1 });
    this.viewChanged(id, "-", m.name);
    // What was waiting on it is tried elsewhere at once.
    for (const [rid, p] of this.pending)
      if (p.kind !== "write" && ("candidates" in p ? p.candidates[0] === id : p.peer === id)) this.expire(rid, p);
  }

  /** The view is this node and every live member; a new ring, then the hand-off plan. */
  private viewChanged(peer: string, sign: "+" | "-", name = this.nameOf(peer)): void {
    const before = this.ring;
    this.previousRing = before;
    this.ring = new Ring([this.id, ...this.members.keys()], this.config.vnodes);
    this.lastChange = { at: this.now(), peer, name, sign, took: 0, handed: 0 };
    this.rebalance(before, this.ring, sign === "+");
  }

  /**
   * The hand-off plan. Only keys whose owners changed move. Each is sent by one node, the first of
   * its new owners that was an old owner too (every node with this view picks the same one; when
   * none was, the first old owner still in the view). On a join it goes to the new owners only;
   * on a departure to every other owner, since one may lack it if an earlier hand-off was lost
   * with a sender that crashed. Receivers take only what is newer than their copy. Keys this node no longer owns are released
   * after the grace period, so reads that go to the old owner still find them here.
   */
  private rebalance(before: Ring, after: Ring, joined: boolean): void {
    const r = this.config.replication;
    const out = new Map<string, Item[]>();
    const now = this.now();
    // A node still filling its first view sees every peer as a join and would offer what it was
    // just given to nodes that only look like owners from its partial view: on joins it leaves
    // the sending to the nodes that were there before it.
    const settling = joined && now - this.bornAt < this.config.peerExpiryMs;
    for (const [key, entry] of this.store) {
      const old = before.ownersOf(key, r);
      const owners = after.ownersOf(key, r);
      if (!owners.includes(this.id)) {
        if (!this.releasing.has(key)) this.releasing.set(key, now);
      } else this.releasing.delete(key);
      if (old.join() === owners.join()) continue;
      const sender = owners.find((n) => old.includes(n)) ?? old.find((n) => after.has(n)) ?? this.id;
      if (sender !== this.id || settling) continue;
      // A join: only the new owners lack it. A departure: any other owner may lack it too.
      for (const node of owners) if (node !== this.id && (!joined || !old.includes(node))) addTo(out, node, { key, ...entry });
    }
    for (const [peer, items] of out) this.handOff(peer, items);
  }

  private handOff(peer: string, items: Item[]): void {
    for (let i = 0; i < items.length; i += XFER_BATCH) this.sendXfer(peer, items.slice(i, i + XFER_BATCH), 1);
    this.counters.handedOff += items.length;
    if (this.lastChange) this.lastChange.handed += items.length;
    this.onEvent({ kind: "handed-off", peer, name: this.nameOf(peer), keys: items.length });
  }

  private sendXfer(peer: string, items: Item[], attempts: number): void {
    const rid = this.nextRid++;
    this.pending.set(rid, { kind: "xfer", peer, items, attempts, deadline: this.now() + this.config.peerTimeoutMs });
    this.transport.send(peer, { op: "XFER", rid, items });
  }

  /**
   * A clean leave: every key this node holds goes to the owners it has in the ring without this
   * node, if they were not owners already; the caller waits for `handoffsPending` to reach 0 and
   * then announces the leave (a beacon with port 0).
   */
  leave(): void {
    if (this.leaving) return;
    this.leaving = true;
    const r = this.config.replication;
    const without = new Ring([...this.members.keys()], this.config.vnodes);
    const out = new Map<string, Item[]>();
    for (const [key, entry] of this.store) {
      const old = this.ring.ownersOf(key, r);
      for (const node of without.ownersOf(key, r)) {
        if (old.includes(node)) continue;
        addTo(out, node, { key, ...entry });
      }
    }
    for (const [peer, items] of out) this.handOff(peer, items);
  }

  // ---- requests ----------------------------------------------------------------------------

  /** A request on the mailbox, from a client or from a peer (`peer` set: its HELLO came first). */
  request(origin: Origin, req: PeerRequest, peer?: string): void {
    if (peer) this.heard(peer);
    const reply = (r: Omit<Reply, "rid" | "node">) => this.transport.reply(origin, { rid: req.rid, node: this.id, ...r });
    switch (req.op) {
      case "OWNERS":
        reply({ status: "ok", owners: this.ring.ownersOf(req.key, this.config.replication) });
        return;
      case "FETCH": {
        const e = this.store.get(req.key);
        this.counters.served += 1;
        reply(e ? { status: "ok", ...entryFields(e) } : { status: "not-found" });
        return;
      }
      case "REPL": {
        const { op: _op, rid: _rid, key, ...entry } = req;
        this.keep(key, entry);
        reply({ status: "ok" });
        return;
      }
      case "XFER": {
        let taken = 0;
        for (const { key, ...entry } of req.items) if (this.keep(key, entry)) taken += 1;
        this.counters.took += taken;
        if (this.lastChange) this.lastChange.took += taken;
        if (peer) this.onEvent({ kind: "took", peer, name: this.nameOf(peer), keys: taken, offered: req.items.length });
        reply({ status: "ok", taken });
        return;
      }
      default:
        this.route(origin, req);
    }
  }

  /** Stores a copy if it supersedes the one held; true when it did. */
  private keep(key: string, entry: Entry): boolean {
    if (!newer(entry, this.store.get(key))) return false;
    this.store.set(key, entry);
    if (!this.ring.ownersOf(key, this.config.replication).includes(this.id) && !this.releasing.has(key))
      this.releasing.set(key, this.now());
    return true;
  }

  /** GET, PUT, DEL: served by any owner in this node's view; otherwise forwarded to the owners, in order. */
  private route(origin: Origin, req: Routed): void {
    const owners = this.ring.ownersOf(req.key, this.config.replication);
    if (owners.includes(this.id)) {
      this.serve(origin, req, owners);
      return;
    }
    if (req.hops >= this.config.hopLimit) {
      this.counters.hopLimited += 1;
      this.onEvent({ kind: "hop-limit", key: req.key });
      this.transport.reply(origin, { rid: req.rid, node: this.id, status: "error", reason: `hop limit ${this.config.hopLimit} reached` });
      return;
    }
    this.counters.forwarded += 1;
    this.forward({ kind: "forward", origin, rid: req.rid, request: req, candidates: owners, deadline: 0 });
  }

  private forward(p: Extract<Pending, { kind: "forward" }>): void {
    const peer = p.candidates[0];
    if (peer === undefined) {
      this.transport.reply(p.origin, { rid: p.rid, node: this.id, status: "error", reason: "no owner answered" });
      return;
    }
    const rid = this.nextRid++;
    p.deadline = this.now() + this.config.peerTimeoutMs * (this.config.hopLimit - p.request.hops);
    this.pending.set(rid, p);
    this.transport.send(peer, { ...p.request, rid, hops: p.request.hops + 1 });
  }

  private serve(origin: Origin, req: Routed, owners: string[]): void {
    this.counters.served += 1;
    const held = this.store.get(req.key);
    if (req.op === "GET") {
      if (held) {
        this.transport.reply(origin, {
          rid: req.rid,
          node: this.id,
          ...(held.deleted ? { status: "not-found" } : { status: "ok", ...entryFields(held) }),
        });
        return;
      }
      // Not here: the hand-off may not have arrived. The other owners first, then the old owners.
      const old = this.previousRing.ownersOf(req.key, this.config.replication);
      const candidates = [...owners, ...old.filter((n) => !owners.includes(n))].filter((n) => n !== this.id && this.members.has(n));
      this.fetch({ kind: "fetch", origin, rid: req.rid, key: req.key, candidates, deadline: 0 });
      return;
    }
    const entry: Entry =
      req.op === "PUT"
        ? { value: req.value, version: this.version(held), writer: this.id, deleted: false }
        : { value: undefined, version: this.version(held), writer: this.id, deleted: true };
    this.store.set(req.key, entry);
    this.releasing.delete(req.key);
    const others = owners.filter((n) => n !== this.id);
    const write: Extract<Pending, { kind: "write" }> = {
      kind: "write",
      origin,
      rid: req.rid,
      waiting: new Set(),
      replicas: 1,
      entry,
      deadline: this.now() + this.config.peerTimeoutMs,
    };
    for (const peer of others) {
      const rid = this.nextRid++;
      write.waiting.add(peer);
      this.pending.set(rid, write);
      this.transport.send(peer, { op: "REPL", rid, key: req.key, ...entry });
    }
    if (write.waiting.size === 0) this.finishWrite(write);
  }

  /** The writer's clock, and always past the version it replaces. */
  private version(held: Entry | undefined): number {
    return Math.max(Math.floor(this.now()), (held?.version ?? 0) + 1);
  }

  private finishWrite(w: Extract<Pending, { kind: "write" }>): void {
    this.transport.reply(w.origin, { rid: w.rid, node: this.id, status: "ok", version: w.entry.version, replicas: w.replicas });
  }

  private fetch(p: Extract<Pending, { kind: "fetch" }>): void {
    const peer = p.candidates[0];
    if (peer === undefined) {
      const best = p.best;
      this.transport.reply(p.origin, {
        rid: p.rid,
        node: this.id,
        ...(best && !best.deleted ? { status: "ok", ...entryFields(best) } : { status: "not-found" }),
      });
      return;
    }
    const rid = this.nextRid++;
    p.deadline = this.now() + this.config.peerTimeoutMs;
    this.pending.set(rid, p);
    this.transport.send(peer, { op: "FETCH", rid, key: p.key });
  }

  /** A REPLY on our DEALER to `peer`. */
  replied(peer: string, reply: Reply): void {
    this.heard(peer);
    const p = this.pending.get(reply.rid);
    if (!p) {
      this.counters.lateReplies += 1;
      return;
    }
    this.pending.delete(reply.rid);
    switch (p.kind) {
      case "forward":
        this.transport.reply(p.origin, { ...reply, rid: p.rid });
        return;
      case "write":
        p.waiting.delete(peer);
        if (reply.status === "ok") p.replicas += 1;
        if (p.waiting.size === 0) this.finishWrite(p);
        return;
      case "fetch": {
        p.candidates.shift();
        if (reply.status === "ok" && reply.version !== undefined && reply.writer !== undefined) {
          const found: Entry = { value: reply.value, version: reply.version, writer: reply.writer, deleted: reply.deleted === true };
          if (newer(found, p.best)) p.best = found;
          // Read repair: an owner keeps what it fetched.
          this.keep(p.key, found);
          p.candidates = [];
        }
        this.fetch(p);
        return;
      }
      case "xfer":
        return;
    }
  }

  private expire(rid: number, p: Pending): void {
    this.pending.delete(rid);
    switch (p.kind) {
      case "forward":
        p.candidates.shift();
        this.forward(p);
        return;
      case "fetch":
        p.candidates.shift();
        this.fetch(p);
        return;
      case "write":
        // Every rid of the write points at it: the first to expire answers, the others are forgotten.
        for (const [other, q] of this.pending) if (q === p) this.pending.delete(other);
        this.finishWrite(p);
        return;
      case "xfer":
        if (p.attempts < XFER_ATTEMPTS && this.members.has(p.peer)) this.sendXfer(p.peer, p.items, p.attempts + 1);
        return;
    }
  }

  /** Periodic duties: silent peers expire, unanswered requests move on, released keys go. */
  tick(): void {
    const now = this.now();
    for (const m of [...this.members.values()]) if (now - m.lastHeard > this.config.peerExpiryMs) this.remove(m.id, "silent");
    for (const [rid, p] of [...this.pending]) if (this.pending.get(rid) === p && now > p.deadline) this.expire(rid, p);
    let released = 0;
    const inFlight = new Set<string>();
    for (const p of this.pending.values()) if (p.kind === "xfer") for (const i of p.items) inFlight.add(i.key);
    for (const [key, since] of this.releasing) {
      if (now - since < this.config.graceMs || inFlight.has(key)) continue;
      this.releasing.delete(key);
      if (this.ring.ownersOf(key, this.config.replication).includes(this.id)) continue;
      this.store.delete(key);
      released += 1;
    }
    if (released > 0) {
      this.counters.released += released;
      this.onEvent({ kind: "released", keys: released });
    }
  }
}

function entryFields(e: Entry): Pick<Reply, "value" | "version" | "writer" | "deleted"> {
  return { ...(e.value !== undefined ? { value: e.value } : {}), version: e.version, writer: e.writer, deleted: e.deleted };
}

function addTo(batches: Map<string, Item[]>, node: string, item: Item): void {
  const batch = batches.get(node);
  if (batch) batch.push(item);
  else batches.set(node, [item]);
}
