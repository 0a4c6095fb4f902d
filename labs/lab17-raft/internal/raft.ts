// Raft as the paper states it (Ongaro and Ousterhout, 2014), as a pure state machine: no clock,
// no randomness, no sockets, no disk of its own. The driver (a ZeroMQ process, or the seeded
// simulation in the tests) calls tick / receive / propose / read with the time, then take(), and
// must write `persist` to stable storage BEFORE it sends `send` and `replies`: a vote or an
// acknowledgement is never given for state that a crash could lose.
import { type Command, KvStore, type OpResult } from "./kv.ts";

export type NodeId = string;

/** A log entry: a client's command, or none for the no-op a new leader appends. */
export interface Entry {
  term: number;
  cmd?: Command;
}

export type RaftMessage =
  /** RequestVote; the candidate is the sender. */
  | { type: "vote"; term: number; lastLogIndex: number; lastLogTerm: number }
  | { type: "voteResp"; term: number; granted: boolean }
  /** AppendEntries; the leader is the sender. `round` numbers the leader's heartbeat rounds (read index). */
  | { type: "append"; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number; round: number }
  /** On failure, conflictTerm/conflictIndex let the leader skip a whole term at once (fast back-off). */
  | { type: "appendResp"; term: number; success: boolean; match: number; conflictTerm: number; conflictIndex: number; round: number };

export type Role = "follower" | "candidate" | "leader";

/** What a client is told: a result, or that this node is not (or no longer) the leader. */
export type ClientReply = { kind: "ok"; result: OpResult; index: number } | { kind: "notLeader"; leader: NodeId | undefined };

/** The durable change since the last take(): term and vote, and the log from `from` on (what is after it is gone). */
export interface PersistRecord {
  term: number;
  votedFor: NodeId | null;
  from: number;
  entries: Entry[];
}

export interface Output<R> {
  persist: PersistRecord | undefined;
  send: { to: NodeId; msg: RaftMessage }[];
  replies: { ref: R; reply: ClientReply }[];
  /** Entries applied to the state machine, in order, with their results. */
  applied: { index: number; entry: Entry; result: OpResult | undefined }[];
}

export interface RaftConfig {
  id: NodeId;
  /** The other members. */
  peers: NodeId[];
  electionMinMs: number;
  electionMaxMs: number;
  heartbeatMs: number;
  /** Entries per AppendEntries at most (1: no batching). */
  maxBatch: number;
}

export interface DurableState {
  term: number;
  votedFor: NodeId | null;
  log: Entry[];
}

export const EMPTY_STATE: DurableState = { term: 0, votedFor: null, log: [] };

/** The paper's defaults widened for TCP and the Node event loop (patterns.md, Lab 17). */
export const ELECTION_MIN_MS = 300;
export const ELECTION_MAX_MS = 600;
export const HEARTBEAT_MS = 100;
export const MAX_BATCH = 64;
/** Entries sent to a follower and not yet acknowledged, at most (the pipeline's depth). */
export const PIPELINE_ENTRIES = 256;

interface PendingRead<R> {
  ref: R;
  key: string;
  index: number;
  round: number;
}

export class RaftNode<R = unknown> {
  term: number;
  votedFor: NodeId | null;
  /** log[0] is index 1. */
  readonly log: Entry[];
  role: Role = "follower";
  leader: NodeId | undefined;
  commitIndex = 0;
  lastApplied = 0;
  readonly kv = new KvStore();

  private electionDeadline: number;
  private heartbeatDue = 0;
  private votes = new Set<NodeId>();
  private readonly nextIndex = new Map<NodeId, number>();
  private readonly matchIndex = new Map<NodeId, number>();
  /** The highest heartbeat round each follower answered in this term. */
  private readonly acked = new Map<NodeId, number>();
  /** Followers whose matchIndex moved since the last heartbeat: their pipeline is not stuck. */
  private readonly progressed = new Set<NodeId>();
  private round = 0;
  /** The index of this leader's no-op: reads wait until it is committed. */
  private noopIndex = 0;
  private readonly pending = new Map<number, R>();
  private reads: PendingRead<R>[] = [];
  /** What take() sends: new entries to whoever lacks them, or a message to every follower (a read's round). */
  private flush: "no" | "new" | "all" = "no";

  private dirtyState = false;
  private dirtyFrom = Number.POSITIVE_INFINITY;
  private out: Output<R> = { persist: undefined, send: [], replies: [], applied: [] };

  constructor(
    readonly config: RaftConfig,
    state: DurableState,
    private readonly random: () => number,
    now: number,
  ) {
    this.term = state.term;
    this.votedFor = state.votedFor;
    this.log = [...state.log];
    this.electionDeadline = now + this.electionTimeout();
  }

  get lastIndex(): number {
    return this.log.length;
  }

  termAt(index: number): number {
    return index === 0 ? 0 : (this.log[index - 1]?.term ?? 0);
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex);
  }

  private get majority(): number {
    return Math.floor((this.config.peers.length + 1) / 2) + 1;
  }

  private electionTimeout(): number {
    const { electionMinMs: min, electionMaxMs: max } = this.config;
    return min + Math.floor(this.random() * (max - min + 1));
  }

  // ---- inputs -----------------------------------------------------------------------------

  tick(now: number): void {
    if (this.role === "leader") {
      if (now >= this.heartbeatDue) this.heartbeat(now);
    } else if (now >= this.electionDeadline) this.startElection(now);
  }

  receive(from: NodeId, msg: RaftMessage, now: number): void {
    if (!this.config.peers.includes(from)) return;
    if (msg.term > this.term) {
      this.term = msg.term;
      this.votedFor = null;
      this.dirtyState = true;
      this.stepDown(now, undefined);
    }
    switch (msg.type) {
      case "vote":
        this.onVote(from, msg, now);
        return;
      case "voteResp":
        if (this.role === "candidate" && msg.term === this.term && msg.granted) {
          this.votes.add(from);
          if (this.votes.size >= this.majority) this.becomeLeader(now);
        }
        return;
      case "append":
        this.onAppend(from, msg, now);
        return;
      case "appendResp":
        this.onAppendResp(from, msg);
        return;
    }
  }

  /** A client's write: appended by the leader, answered once applied; elsewhere answered with a hint. */
  propose(cmd: Command, ref: R): void {
    if (this.role !== "leader") {
      this.out.replies.push({ ref, reply: { kind: "notLeader", leader: this.leader } });
      return;
    }
    this.append({ term: this.term, cmd });
    this.pending.set(this.lastIndex, ref);
    if (this.config.peers.length === 0) this.advanceCommit();
    if (this.flush === "no") this.flush = "new";
  }

  /**
   * A linearizable read (read index, thesis 6.4): note the commit index (at least this leader's
   * no-op), confirm leadership by a heartbeat round a majority answers, then answer from the state
   * machine once it has applied that index.
   */
  read(key: string, ref: R): void {
    if (this.role !== "leader") {
      this.out.replies.push({ ref, reply: { kind: "notLeader", leader: this.leader } });
      return;
    }
    this.round += 1;
    this.reads.push({ ref, key, index: Math.max(this.commitIndex, this.noopIndex), round: this.round });
    this.flush = "all";
    this.serveReads();
  }

  /** Everything to do since the last call: persist first, then send and reply. */
  take(): Output<R> {
    if (this.flush !== "no" && this.role === "leader") this.sendAppends(this.flush === "all");
    this.flush = "no";
    if (this.dirtyState || this.dirtyFrom !== Number.POSITIVE_INFINITY) {
      const from = Math.min(this.dirtyFrom, this.lastIndex + 1);
      this.out.persist = { term: this.term, votedFor: this.votedFor, from, entries: this.log.slice(from - 1) };
    }
    this.dirtyState = false;
    this.dirtyFrom = Number.POSITIVE_INFINITY;
    const out = this.out;
    this.out = { persist: undefined, send: [], replies: [], applied: [] };
    return out;
  }

  /** The pending client requests that a crash or a step-down loses: answered notLeader by the driver. */
  get pendingCount(): number {
    return this.pending.size + this.reads.length;
  }

  // ---- elections --------------------------------------------------------------------------

  private startElection(now: number): void {
    this.term += 1;
    this.role = "candidate";
    this.leader = undefined;
    this.votedFor = this.config.id;
    this.dirtyState = true;
    this.votes = new Set([this.config.id]);
    this.electionDeadline = now + this.electionTimeout();
    if (this.votes.size >= this.majority) {
      this.becomeLeader(now);
      return;
    }
    const msg: RaftMessage = { type: "vote", term: this.term, lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm };
    for (const peer of this.config.peers) this.out.send.push({ to: peer, msg });
  }

  private onVote(from: NodeId, msg: Extract<RaftMessage, { type: "vote" }>, now: number): void {
    // The up-to-date check: the candidate's last term, then its length.
    const upToDate = msg.lastLogTerm > this.lastTerm || (msg.lastLogTerm === this.lastTerm && msg.lastLogIndex >= this.lastIndex);
    const granted = msg.term === this.term && (this.votedFor === null || this.votedFor === from) && upToDate;
    if (granted) {
      if (this.votedFor !== from) this.dirtyState = true;
      this.votedFor = from;
      this.electionDeadline = now + this.electionTimeout();
    }
    this.out.send.push({ to: from, msg: { type: "voteResp", term: this.term, granted } });
  }

  private becomeLeader(now: number): void {
    this.role = "leader";
    this.leader = this.config.id;
    this.acked.clear();
    this.progressed.clear();
    for (const peer of this.config.peers) {
      this.nextIndex.set(peer, this.lastIndex + 1);
      this.matchIndex.set(peer, 0);
    }
    // A no-op of its own term: commits what earlier leaders left, and lets reads begin.
    this.append({ term: this.term });
    this.noopIndex = this.lastIndex;
    if (this.config.peers.length === 0) this.advanceCommit();
    this.heartbeat(now);
  }

  /** A higher term, or another leader for this term: back to follower; pending requests are told. */
  private stepDown(now: number, leader: NodeId | undefined): void {
    const was = this.role;
    this.role = "follower";
    this.leader = leader;
    if (was !== "follower") this.electionDeadline = now + this.electionTimeout();
    for (const ref of this.pending.values()) this.out.replies.push({ ref, reply: { kind: "notLeader", leader } });
    for (const r of this.reads) this.out.replies.push({ ref: r.ref, reply: { kind: "notLeader", leader } });
    this.pending.clear();
    this.reads = [];
  }

  // ---- replication ------------------------------------------------------------------------

  private append(entry: Entry): void {
    this.log.push(entry);
    this.dirtyFrom = Math.min(this.dirtyFrom, this.lastIndex);
  }

  /** Every follower gets AppendEntries from its matchIndex + 1: what a dropped message lost is sent again. */
  private heartbeat(now: number): void {
    this.heartbeatDue = now + this.config.heartbeatMs;
    this.round += 1;
    for (const peer of this.config.peers) {
      const match = this.matchIndex.get(peer) ?? 0;
      const inFlight = (this.nextIndex.get(peer) ?? 0) > match + 1;
      if (inFlight && this.progressed.has(peer)) {
        // The pipeline moves: a bare heartbeat (commit index, round) from what is known to match,
        // and the entries in flight are left to arrive.
        this.sendEntries(peer, match, []);
      } else {
        // Nothing heard for a whole interval: what is in flight may be lost, so send it again.
        this.nextIndex.set(peer, match + 1);
        this.sendWindow(peer, true);
      }
    }
    this.progressed.clear();
  }

  /** AppendEntries after `prevIndex`, with this leader's commit index and round. */
  private sendEntries(peer: NodeId, prevIndex: number, entries: Entry[]): void {
    const msg: RaftMessage = {
      type: "append",
      term: this.term,
      prevIndex,
      prevTerm: this.termAt(prevIndex),
      entries,
      commit: this.commitIndex,
      round: this.round,
    };
    this.out.send.push({ to: peer, msg });
  }

  private sendAppends(all: boolean): void {
    for (const peer of this.config.peers) this.sendWindow(peer, all);
  }

  /**
   * What a follower lacks, in messages of up to maxBatch entries, while at most PIPELINE_ENTRIES
   * are unacknowledged; `force` sends one message even when there is nothing new (a heartbeat).
   */
  private sendWindow(peer: NodeId, force: boolean): void {
    let sent = false;
    for (;;) {
      const next = this.nextIndex.get(peer) ?? this.lastIndex + 1;
      const match = this.matchIndex.get(peer) ?? 0;
      if (next > this.lastIndex || next - 1 - match >= PIPELINE_ENTRIES) break;
      this.sendAppend(peer);
      sent = true;
    }
    if (force && !sent) this.sendAppend(peer);
  }

  /** One AppendEntries to a follower, from its nextIndex; pipelined: nextIndex moves past what was sent. */
  private sendAppend(peer: NodeId): void {
    const next = this.nextIndex.get(peer) ?? this.lastIndex + 1;
    const prevIndex = next - 1;
    const entries = this.log.slice(prevIndex, prevIndex + this.config.maxBatch);
    this.nextIndex.set(peer, next + entries.length);
    this.sendEntries(peer, prevIndex, entries);
  }

  private onAppend(from: NodeId, msg: Extract<RaftMessage, { type: "append" }>, now: number): void {
    const reply = (success: boolean, match: number, conflictTerm = 0, conflictIndex = 0) => {
      this.out.send.push({
        to: from,
        msg: { type: "appendResp", term: this.term, success, match, conflictTerm, conflictIndex, round: msg.round },
      });
    };
    if (msg.term < this.term) {
      reply(false, 0);
      return;
    }
    if (this.role !== "follower" || this.leader !== from) this.stepDown(now, from);
    this.electionDeadline = now + this.electionTimeout();
    // The consistency check, with what the leader needs to skip back a term at a time.
    if (msg.prevIndex > this.lastIndex) {
      reply(false, 0, 0, this.lastIndex + 1);
      return;
    }
    const have = this.termAt(msg.prevIndex);
    if (have !== msg.prevTerm) {
      let first = msg.prevIndex;
      while (first > 1 && this.termAt(first - 1) === have) first -= 1;
      reply(false, 0, have, first);
      return;
    }
    // Append what is new; truncate only on a real conflict (a late, shorter message must not).
    for (let i = 0; i < msg.entries.length; i++) {
      const index = msg.prevIndex + 1 + i;
      const entry = msg.entries[i] as Entry;
      if (index <= this.lastIndex) {
        if (this.termAt(index) === entry.term) continue;
        if (index <= this.commitIndex) throw new Error(`leader ${from} would overwrite committed entry ${index}`);
        this.log.length = index - 1;
        this.dirtyFrom = Math.min(this.dirtyFrom, index);
      }
      this.append(entry);
    }
    const match = msg.prevIndex + msg.entries.length;
    if (msg.commit > this.commitIndex) this.commitTo(Math.min(msg.commit, match));
    reply(true, match);
  }

  private onAppendResp(from: NodeId, msg: Extract<RaftMessage, { type: "appendResp" }>): void {
    if (this.role !== "leader" || msg.term !== this.term) return;
    this.acked.set(from, Math.max(this.acked.get(from) ?? 0, msg.round));
    const match = this.matchIndex.get(from) ?? 0;
    if (msg.success) {
      if (msg.match > match) this.progressed.add(from);
      const newMatch = Math.min(Math.max(match, msg.match), this.lastIndex);
      this.matchIndex.set(from, newMatch);
      if ((this.nextIndex.get(from) ?? 0) <= newMatch) this.nextIndex.set(from, newMatch + 1);
      this.advanceCommit();
      this.sendWindow(from, false);
    } else if (msg.conflictIndex > 0) {
      // Fast back-off: past the follower's whole conflicting term, or to its log's end.
      let next = msg.conflictIndex;
      if (msg.conflictTerm > 0) {
        for (let i = this.lastIndex; i >= 1; i--) {
          if (this.termAt(i) === msg.conflictTerm) {
            next = i + 1;
            break;
          }
          if (this.termAt(i) < msg.conflictTerm) break;
        }
      }
      this.nextIndex.set(from, Math.min(Math.max(match + 1, next), this.lastIndex + 1));
      this.sendAppend(from);
    }
    this.serveReads();
  }

  /** Commit by count only an entry of this leader's own term (Figure 8): older ones follow it. */
  private advanceCommit(): void {
    for (let n = this.lastIndex; n > this.commitIndex; n--) {
      if (this.termAt(n) !== this.term) break;
      let count = 1;
      for (const peer of this.config.peers) if ((this.matchIndex.get(peer) ?? 0) >= n) count += 1;
      if (count >= this.majority) {
        this.commitTo(n);
        break;
      }
    }
  }

  private commitTo(index: number): void {
    if (index <= this.commitIndex) return;
    this.commitIndex = Math.min(index, this.lastIndex);
    while (this.lastApplied < this.commitIndex) {
      this.lastApplied += 1;
      const entry = this.log[this.lastApplied - 1] as Entry;
      const result = entry.cmd ? this.kv.apply(entry.cmd) : undefined;
      this.out.applied.push({ index: this.lastApplied, entry, result });
      const ref = this.pending.get(this.lastApplied);
      if (ref !== undefined) {
        this.pending.delete(this.lastApplied);
        this.out.replies.push({ ref, reply: { kind: "ok", result: result ?? { ok: false }, index: this.lastApplied } });
      }
    }
    this.serveReads();
  }

  private serveReads(): void {
    if (this.reads.length === 0 || this.role !== "leader") return;
    this.reads = this.reads.filter((r) => {
      let confirmed = 1;
      for (const peer of this.config.peers) if ((this.acked.get(peer) ?? 0) >= r.round) confirmed += 1;
      if (confirmed < this.majority || this.lastApplied < r.index) return true;
      this.out.replies.push({ ref: r.ref, reply: { kind: "ok", result: { ok: true, value: this.kv.get(r.key) }, index: r.index } });
      return false;
    });
  }
}
