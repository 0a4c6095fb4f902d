import { createHash } from "node:crypto";
import {
  bindAll,
  encode,
  type Logger,
  type LoopStats,
  peerLimits,
  receiveLoop,
  reconnectAfterDrops,
  runLoops,
  SendQueue,
  type View,
  Wakeup,
} from "@zlabs/kit";
import { Publisher, Router, Subscriber } from "zeromq";
import type { Command } from "./kv.ts";
import {
  ALL_TOPIC,
  type ClientRequest,
  type Envelope,
  encodeBus,
  encodeReply,
  type FromBus,
  type FromClient,
  fromBus,
  fromClient,
  type NodeStatus,
  type Reply,
  topicFor,
} from "./protocol.ts";
import { type ClientReply, type Entry, type NodeId, type RaftMessage, RaftNode } from "./raft.ts";
import { loadState, RaftStorage } from "./storage.ts";
import { type NodeSnapshot, nodeView, VIEW_MS } from "./view.ts";

/** How often the node's clock ticks the state machine (elections and heartbeats are checked then). */
export const TICK_MS = 10;
/** ZMTP heartbeats on the bus: a connection silent this long (a partition) is dropped and made again. */
export const BUS_HEARTBEAT_MS = 500;
export const BUS_HEARTBEAT_TIMEOUT_MS = 2000;

export interface Member {
  id: NodeId;
  /** Its PUB's endpoint. */
  bus: string;
}

export interface NodeConfig {
  id: NodeId;
  cluster: Member[];
  /** This node's ROUTER for clients. */
  client: string;
  dir: string;
  electionMinMs: number;
  electionMaxMs: number;
  heartbeatMs: number;
  maxBatch: number;
}

interface Ref {
  envelope: Envelope;
  id: number;
}

type Event =
  | { kind: "tick" }
  | { kind: "raft"; from: NodeId; msg: RaftMessage }
  | { kind: "write"; cmd: Command; ref: Ref }
  | { kind: "read"; key: string; ref: Ref };

export interface NodeOptions {
  publish?: (view: View) => void;
}

const describeCmd = (e: Entry) =>
  !e.cmd ? "no-op" : e.cmd.op === "delete" ? `delete ${e.cmd.key}` : `${e.cmd.op} ${e.cmd.key}=${e.cmd.value}`;

/**
 * A Raft node over ZeroMQ: a PUB for the bus (every other node's SUB reads it), a SUB on every
 * other node's PUB for the messages addressed to it ("<id>." and "all."), a ROUTER for clients.
 * One worker feeds the events (ticks, bus messages, client requests) to the pure RaftNode, writes
 * what it must persist with fsync, and only then sends what it produced: votes, acknowledgements
 * and client answers never run ahead of the disk. Events that arrive while the disk works are fed
 * together next time, so many client writes share one fsync.
 */
export class ConsensusNode {
  private readonly pub = new Publisher({
    linger: 0,
    sendHighWaterMark: 10_000,
    heartbeatInterval: BUS_HEARTBEAT_MS,
    heartbeatTimeout: BUS_HEARTBEAT_TIMEOUT_MS,
  });
  private readonly sub = new Subscriber({
    linger: 0,
    receiveHighWaterMark: 10_000,
    heartbeatInterval: BUS_HEARTBEAT_MS,
    heartbeatTimeout: BUS_HEARTBEAT_TIMEOUT_MS,
    reconnectInterval: 100,
    reconnectMaxInterval: 1000,
    ...peerLimits(),
  });
  private readonly router = new Router({ linger: 0, ...peerLimits() });
  private readonly replies = new SendQueue(this.router);
  private readonly storage: RaftStorage;
  private readonly members: ReadonlySet<NodeId>;
  private raft!: RaftNode<Ref>;
  private events: Event[] = [];
  private readonly work = new Wakeup();
  readonly endpoints = { bus: "", client: "" };
  readonly loops: Record<"bus" | "client", LoopStats> = { bus: { received: 0, failed: 0 }, client: { received: 0, failed: 0 } };
  dropped = 0;
  private lastApplied: string | undefined;
  private seen = { role: "follower", term: 0, leader: undefined as NodeId | undefined };

  constructor(
    private readonly config: NodeConfig,
    private readonly log: Logger,
    private readonly options: NodeOptions = {},
  ) {
    this.storage = new RaftStorage(config.dir);
    this.members = new Set(config.cluster.map((m) => m.id));
  }

  snapshot(): NodeSnapshot {
    const r = this.raft;
    return {
      id: this.config.id,
      role: r.role,
      term: r.term,
      leader: r.leader,
      commit: r.commitIndex,
      lastIndex: r.lastIndex,
      lastTerm: r.lastTerm,
      votedFor: r.votedFor,
      keys: r.kv.data.size,
      dropped: this.dropped,
      lastApplied: this.lastApplied,
    };
  }

  status(): NodeStatus {
    const r = this.raft;
    const digest = createHash("sha256")
      .update(encode(r.log.slice(0, r.commitIndex)))
      .digest("hex")
      .slice(0, 16);
    return {
      term: r.term,
      role: r.role,
      leader: r.leader ?? null,
      commit: r.commitIndex,
      lastIndex: r.lastIndex,
      lastTerm: r.lastTerm,
      digest,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    const loaded = loadState(this.config.dir);
    const { state } = loaded;
    this.raft = new RaftNode<Ref>(
      {
        id: this.config.id,
        peers: this.config.cluster.filter((m) => m.id !== this.config.id).map((m) => m.id),
        electionMinMs: this.config.electionMinMs,
        electionMaxMs: this.config.electionMaxMs,
        heartbeatMs: this.config.heartbeatMs,
        maxBatch: this.config.maxBatch,
      },
      state,
      Math.random,
      performance.now(),
    );
    this.seen.term = state.term;
    this.log.info(
      {
        term: state.term,
        votedFor: state.votedFor,
        entries: state.log.length,
        records: loaded.records,
        tornBytes: loaded.tornBytes,
        dir: this.config.dir,
      },
      "state loaded",
    );
    await this.storage.open();
    const self = this.config.cluster.find((m) => m.id === this.config.id) as Member;
    Object.assign(this.endpoints, await bindAll(this.log, { bus: [this.pub, self.bus], client: [this.router, this.config.client] }));
    this.sub.subscribe(topicFor(this.config.id), ALL_TOPIC);
    const peerBuses = this.config.cluster.filter((m) => m.id !== this.config.id).map((m) => m.bus);
    for (const bus of peerBuses) this.sub.connect(bus);
    // libzmq does not connect again after dropping a peer for an over-limit message: we do.
    reconnectAfterDrops(this.sub, peerBuses, this.log);
    const log = this.log;
    const publish = this.options.publish;
    try {
      await runLoops(
        signal,
        {
          sockets: [this.pub, this.sub, this.router],
          every: [
            { ms: TICK_MS, run: () => this.push({ kind: "tick" }) },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(nodeView(this.snapshot())) }] : []),
          ],
          onAbort: () => this.work.wake(),
          log,
        },
        () =>
          receiveLoop(this.sub, signal, (frames) => this.onBus(fromBus(frames, this.config.id, this.members)), {
            log,
            name: "bus",
            stats: this.loops.bus,
          }),
        () =>
          receiveLoop(this.router, signal, (frames) => this.onClient(fromClient(frames)), {
            log,
            name: "client",
            stats: this.loops.client,
          }),
        () => this.worker(signal),
      );
    } finally {
      await this.storage.close();
    }
  }

  private push(event: Event): void {
    this.events.push(event);
    this.work.wake();
  }

  private onBus(msg: FromBus): void {
    if (msg.kind === "invalid") this.drop({ socket: "bus", reason: msg.reason }, "invalid bus message dropped");
    else this.push({ kind: "raft", from: msg.from, msg: msg.msg });
  }

  private onClient(msg: FromClient): Promise<void> | undefined {
    if (msg.kind === "invalid") {
      this.drop({ socket: "client", reason: msg.reason }, "invalid client request dropped");
      // A request we could parse far enough to answer is told why; garbage gets no answer.
      if (msg.envelope && msg.id !== undefined)
        return this.reply(msg.envelope, { v: 1, id: msg.id, node: this.config.id, status: "error", reason: msg.reason });
      return;
    }
    const { envelope, request } = msg;
    const ref: Ref = { envelope, id: request.id };
    switch (request.op) {
      case "status":
        return this.reply(envelope, { v: 1, id: request.id, node: this.config.id, status: "status", ...this.status() });
      case "get":
        this.push({ kind: "read", key: request.key, ref });
        return;
      default:
        this.push({ kind: "write", cmd: (request as Extract<ClientRequest, { cmd: Command }>).cmd, ref });
    }
  }

  private reply(envelope: Envelope, reply: Reply): Promise<void> {
    // ROUTER: an answer to a client that has gone is dropped by libzmq.
    return this.replies.send(encodeReply(envelope, reply));
  }

  /** Feeds every waiting event to Raft, persists, then sends: the only place that touches the state machine. */
  private async worker(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.work.until(() => this.events.length > 0, signal);
      if (signal.aborted) return;
      const batch = this.events;
      this.events = [];
      const now = performance.now();
      for (const ev of batch) {
        switch (ev.kind) {
          case "tick":
            this.raft.tick(now);
            break;
          case "raft":
            this.raft.receive(ev.from, ev.msg, now);
            break;
          case "write":
            this.log.debug(
              { client: ev.cmd.client, seq: ev.cmd.seq, op: ev.cmd.op, key: ev.cmd.key, role: this.raft.role },
              "write received",
            );
            this.raft.propose(ev.cmd, ev.ref);
            break;
          case "read":
            this.raft.read(ev.key, ev.ref);
            break;
        }
      }
      const out = this.raft.take();
      if (out.persist) {
        const r = this.raft;
        await this.storage.write(out.persist, () => ({ term: r.term, votedFor: r.votedFor, log: r.log }));
      }
      this.noteChanges();
      await this.sendAll(out.send);
      for (const a of out.applied) {
        this.lastApplied = `${a.index}: ${describeCmd(a.entry)}`;
        this.log.debug({ index: a.index, term: a.entry.term, cmd: describeCmd(a.entry), ok: a.result?.ok }, "applied");
      }
      for (const r of out.replies) await this.reply(r.ref.envelope, this.toReply(r.ref.id, r.reply));
    }
  }

  /** A message for every peer goes once, on "all."; the others on their node's topic. */
  private async sendAll(sends: { to: NodeId; msg: RaftMessage }[]): Promise<void> {
    const peers = this.members.size - 1;
    for (let i = 0; i < sends.length; i++) {
      const s = sends[i] as { to: NodeId; msg: RaftMessage };
      const sameToAll = peers > 1 && sends.slice(i, i + peers).every((x) => x.msg === s.msg) && i + peers <= sends.length;
      try {
        if (sameToAll) {
          await this.pub.send(encodeBus("all", this.config.id, s.msg));
          i += peers - 1;
        } else await this.pub.send(encodeBus(s.to, this.config.id, s.msg));
      } catch (err) {
        if (this.pub.closed) return;
        throw err;
      }
    }
  }

  private toReply(id: number, reply: ClientReply): Reply {
    const node = this.config.id;
    return reply.kind === "ok"
      ? {
          v: 1,
          id,
          node,
          status: "ok",
          ok: reply.result.ok,
          ...(reply.result.value !== undefined ? { value: reply.result.value } : {}),
          index: reply.index,
        }
      : { v: 1, id, node, status: "notLeader", leader: reply.leader ?? null };
  }

  /** One log line per election event: a term started, a leader elected, a new leader followed. */
  private noteChanges(): void {
    const r = this.raft;
    const before = this.seen;
    if (r.role === before.role && r.term === before.term && r.leader === before.leader) return;
    if (r.role === "candidate" && (before.role !== "candidate" || r.term !== before.term))
      this.log.info({ term: r.term, lastIndex: r.lastIndex, lastTerm: r.lastTerm }, "election started");
    else if (r.role === "leader" && before.role !== "leader")
      this.log.info({ term: r.term, lastIndex: r.lastIndex, commit: r.commitIndex }, "leader elected");
    else if (r.role === "follower" && r.leader !== undefined && r.leader !== before.leader)
      this.log.info({ term: r.term, leader: r.leader, lastIndex: r.lastIndex, commit: r.commitIndex }, "following");
    else if (before.role === "leader" && r.role !== "leader") this.log.info({ term: r.term }, "stepped down");
    this.seen = { role: r.role, term: r.term, leader: r.leader };
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }
}
