/**
 * SWIM membership (Das, Gupta, Motivala 2002) as a pure state machine: every protocol period the
 * node pings one member (round robin over a shuffled list); no ACK within the ack timeout and it
 * asks `indirect` others to ping it (PING-REQ); still nothing by the end of the period and the
 * member is suspect; suspect for `suspectMs` and it is dead. A member refutes a suspicion (or its
 * death) by raising its incarnation number. Membership changes travel piggybacked on pings and
 * acks, each retransmitted about λ·log(n) times. Clock, randomness and transport are injected.
 */
import { MAX_MEMBERS, MAX_UPDATES, type MailMessage, type MemberRecord, type MemberState } from "./protocol.ts";

export interface SwimConfig {
  /** The protocol period: one probe each. */
  probeMs: number;
  /** Wait for a direct ACK before asking others to ping (PING-REQ). */
  ackTimeoutMs: number;
  /** Suspect this long (unrefuted) and a member is declared dead. */
  suspectMs: number;
  /** A dead member is remembered this long (so stale gossip cannot revive it), then forgotten. */
  deadRetainMs: number;
  /** Members asked to ping indirectly. */
  indirect: number;
  /** λ: each membership change is piggybacked λ·⌈log2(n+1)⌉ times. */
  retransmit: number;
}

export interface Member extends MemberRecord {
  /** When it entered its state (the node's clock). */
  since: number;
}

export type MemberEvent =
  | { kind: "joined"; member: Member }
  | { kind: "alive"; member: Member; was: MemberState }
  | { kind: "suspect"; member: Member }
  | { kind: "dead"; member: Member }
  | { kind: "removed"; member: Member }
  | { kind: "moved"; member: Member; oldPub: string; oldMailbox: string }
  | { kind: "refuted"; inc: number; state: MemberState };

export interface SwimIo {
  /** Send to a mailbox endpoint. */
  send(mailbox: string, message: MailMessage): void;
  event(e: MemberEvent): void;
}

interface Probe {
  target: string;
  seq: number;
  sentAt: number;
  indirectSent: boolean;
}

interface Relay {
  requester: string;
  seq: number;
  target: string;
  at: number;
}

export class Membership {
  readonly members = new Map<string, Member>();
  private readonly queue = new Map<string, { record: MemberRecord; left: number }>();
  private order: string[] = [];
  private probe: Probe | undefined;
  private nextProbeAt = 0;
  private seq = 0;
  private readonly relays = new Map<number, Relay>();
  /** Messages refused: too many members, or a ping for someone else. */
  dropped = 0;

  constructor(
    readonly self: MemberRecord,
    private readonly config: SwimConfig,
    private readonly random: () => number,
    private readonly io: SwimIo,
  ) {}

  /** Members not dead (alive or suspect). */
  live(): Member[] {
    return [...this.members.values()].filter((m) => m.state !== "dead");
  }

  private alive(): Member[] {
    return [...this.members.values()].filter((m) => m.state === "alive");
  }

  /** How often a change is piggybacked: λ·⌈log2(n+1)⌉. */
  private retransmits(): number {
    return this.config.retransmit * Math.max(1, Math.ceil(Math.log2(this.members.size + 2)));
  }

  private enqueue(record: MemberRecord): void {
    this.queue.set(record.id, { record: { ...record }, left: this.retransmits() });
  }

  /** Up to MAX_UPDATES changes to piggyback, the least sent first; records about `to` go first. */
  private piggyback(to?: string): MemberRecord[] {
    const out: MemberRecord[] = [];
    if (to) {
      const about = this.members.get(to);
      // A member we hold as suspect or dead hears it, so it can refute.
      if (about && about.state !== "alive") out.push(record(about));
    }
    const pending = [...this.queue.values()].sort((a, b) => b.left - a.left);
    for (const p of pending) {
      if (out.length >= MAX_UPDATES) break;
      if (out.some((r) => r.id === p.record.id)) continue;
      out.push(p.record);
      p.left -= 1;
      if (p.left <= 0) this.queue.delete(p.record.id);
    }
    return out;
  }

  /** What this node says about itself. */
  private selfRecord(): MemberRecord {
    return { ...this.self, state: "alive" };
  }

  /** Asks a seed (or any mailbox) to let this node in. */
  join(mailbox: string): void {
    this.io.send(mailbox, { kind: "join", from: this.selfRecord(), updates: this.piggyback() });
  }

  /**
   * A member record heard from anyone (a beacon, a piggybacked update, a message's sender): SWIM's
   * precedence rules decide whether it changes anything.
   */
  learn(r: MemberRecord, now: number): void {
    if (r.id === this.self.id) {
      if (r.state !== "alive" && r.inc >= this.self.inc) {
        this.self.inc = r.inc + 1;
        this.enqueue(this.selfRecord());
        this.io.event({ kind: "refuted", inc: this.self.inc, state: r.state });
      }
      return;
    }
    const m = this.members.get(r.id);
    if (!m) {
      if (r.state === "dead") return;
      if (this.members.size >= MAX_MEMBERS) {
        this.dropped += 1;
        return;
      }
      const member: Member = { ...r, since: now };
      this.members.set(r.id, member);
      this.order.splice(Math.floor(this.random() * (this.order.length + 1)), 0, r.id);
      this.enqueue(r);
      this.io.event({ kind: "joined", member });
      return;
    }
    const newer = r.inc > m.inc;
    let next: MemberState | undefined;
    if (r.state === "alive" && newer) next = "alive";
    else if (r.state === "suspect" && (newer || (m.state === "alive" && r.inc === m.inc))) next = "suspect";
    else if (r.state === "dead" && (newer || (m.state !== "dead" && r.inc === m.inc))) next = "dead";
    if (!next) return;
    const was = m.state;
    const { pub: oldPub, mailbox: oldMailbox } = m;
    m.inc = r.inc;
    m.rank = r.rank;
    if (newer && (r.pub !== m.pub || r.mailbox !== m.mailbox)) {
      m.pub = r.pub;
      m.mailbox = r.mailbox;
      if (was !== "dead") this.io.event({ kind: "moved", member: m, oldPub, oldMailbox });
    }
    if (next !== was) {
      m.state = next;
      m.since = now;
      if (next === "alive") this.io.event({ kind: "alive", member: m, was });
      else if (next === "suspect") this.io.event({ kind: "suspect", member: m });
      else {
        if (this.probe?.target === m.id) this.probe = undefined;
        this.io.event({ kind: "dead", member: m });
      }
    }
    this.enqueue(record(m));
  }

  private learnAll(from: MemberRecord, updates: readonly MemberRecord[], now: number): void {
    this.learn(from, now);
    for (const u of updates) this.learn(u, now);
  }

  handle(message: MailMessage, now: number): void {
    switch (message.kind) {
      case "join":
        this.learnAll(message.from, message.updates, now);
        // The joiner gets the whole list (dead members too: it may be one of them, and must refute).
        for (let i = 0, all = [this.selfRecord(), ...[...this.members.values()].map(record)]; i < all.length; i += MAX_UPDATES)
          this.io.send(message.from.mailbox, {
            kind: "ack",
            from: this.selfRecord(),
            seq: 0,
            target: this.self.id,
            updates: all.slice(i, i + MAX_UPDATES),
          });
        return;
      case "ping":
        if (message.target !== this.self.id) {
          this.dropped += 1;
          return;
        }
        this.learnAll(message.from, message.updates, now);
        this.io.send(message.from.mailbox, {
          kind: "ack",
          from: this.selfRecord(),
          seq: message.seq,
          target: this.self.id,
          updates: this.piggyback(message.from.id),
        });
        return;
      case "ping-req": {
        this.learnAll(message.from, message.updates, now);
        const target = this.members.get(message.target);
        if (!target || target.state === "dead") return;
        this.seq = (this.seq + 1) % 0xffffffff;
        this.relays.set(this.seq, { requester: message.from.mailbox, seq: message.seq, target: target.id, at: now });
        this.io.send(target.mailbox, {
          kind: "ping",
          from: this.selfRecord(),
          seq: this.seq,
          target: target.id,
          updates: this.piggyback(target.id),
        });
        return;
      }
      case "ack": {
        this.learnAll(message.from, message.updates, now);
        const relay = this.relays.get(message.seq);
        if (relay && relay.target === message.target) {
          this.relays.delete(message.seq);
          this.io.send(relay.requester, {
            kind: "ack",
            from: this.selfRecord(),
            seq: relay.seq,
            target: relay.target,
            updates: this.piggyback(),
          });
          return;
        }
        if (this.probe && this.probe.seq === message.seq && this.probe.target === message.target) this.probe = undefined;
        return;
      }
      default:
        return;
    }
  }

  private nextTarget(): Member | undefined {
    for (let tries = 0; tries < this.order.length + 1; tries++) {
      if (this.order.length === 0) return undefined;
      const id = this.order.shift() as string;
      const m = this.members.get(id);
      if (!m) continue;
      this.order.push(id);
      if (m.state !== "dead") return m;
    }
    return undefined;
  }

  tick(now: number): void {
    const p = this.probe;
    if (p) {
      const target = this.members.get(p.target);
      if (!target || target.state === "dead") this.probe = undefined;
      else if (now - p.sentAt >= this.config.probeMs) {
        // No ACK, direct or relayed, within the period: suspect it.
        this.probe = undefined;
        if (target.state === "alive") this.learn({ ...record(target), state: "suspect" }, now);
      } else if (!p.indirectSent && now - p.sentAt >= this.config.ackTimeoutMs) {
        p.indirectSent = true;
        const helpers = this.alive().filter((m) => m.id !== p.target);
        for (let i = 0; i < this.config.indirect && helpers.length > 0; i++) {
          const h = helpers.splice(Math.floor(this.random() * helpers.length), 1)[0] as Member;
          this.io.send(h.mailbox, { kind: "ping-req", from: this.selfRecord(), seq: p.seq, target: p.target, updates: this.piggyback() });
        }
      }
    }
    if (!this.probe && now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.config.probeMs;
      const target = this.nextTarget();
      if (target) {
        this.seq = (this.seq + 1) % 0xffffffff;
        this.probe = { target: target.id, seq: this.seq, sentAt: now, indirectSent: false };
        this.io.send(target.mailbox, {
          kind: "ping",
          from: this.selfRecord(),
          seq: this.seq,
          target: target.id,
          updates: this.piggyback(target.id),
        });
      }
    }
    for (const m of [...this.members.values()]) {
      if (m.state === "suspect" && now - m.since >= this.config.suspectMs) this.learn({ ...record(m), state: "dead" }, now);
      else if (m.state === "dead" && now - m.since >= this.config.deadRetainMs) {
        this.members.delete(m.id);
        this.order = this.order.filter((id) => id !== m.id);
        this.queue.delete(m.id);
        this.io.event({ kind: "removed", member: m });
      }
    }
    for (const [seq, r] of this.relays) if (now - r.at >= this.config.probeMs) this.relays.delete(seq);
  }
}

export function record(m: MemberRecord): MemberRecord {
  return { id: m.id, inc: m.inc, state: m.state, rank: m.rank, pub: m.pub, mailbox: m.mailbox };
}
