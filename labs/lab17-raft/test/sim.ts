// A seeded, discrete-event simulation of a Raft cluster: the same RaftNode the processes run,
// with a virtual clock, a network that loses, delays, reorders and duplicates messages, partitions,
// crashes (volatile state lost, the "disk" kept) and restarts, and clients that retry. Entries and
// messages are shared, not copied, between nodes: RaftNode never changes an entry or a message. Every
// schedule is a function of its seed, so a failing one is replayed by its seed alone.
import { seededRandom } from "@zlabs/kit";
import type { Command } from "../internal/kv.ts";
import { type ClientReply, type DurableState, type Entry, type NodeId, type Output, RaftNode } from "../internal/raft.ts";
import type { HistoryEntry, KvOp } from "./linearizability.ts";

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Virtual ms of faults, then ms of calm (everything healed and restarted). */
  faultyMs?: number;
  calmMs?: number;
  clients?: number;
  keys?: number;
  maxBatch?: number;
}

export interface SimResult {
  seed: number;
  /** The first safety property found broken, with what broke it; undefined when every check held. */
  violation: string | undefined;
  history: HistoryEntry[];
  leaders: number;
  committed: number;
  crashes: number;
  partitions: number;
  messages: number;
  dropped: number;
  /** Whether every node had the same log up to one commit index once calm. */
  converged: boolean;
}

interface SimNode {
  id: NodeId;
  raft: RaftNode<ClientRef> | undefined;
  incarnation: number;
  disk: DurableState;
  /** index → entry key this incarnation applied. */
  applied: Map<number, string>;
}

interface ClientRef {
  client: string;
  seq: number;
  attempt: number;
}

type Request = { kind: "write"; cmd: Command; ref: ClientRef } | { kind: "read"; key: string; ref: ClientRef };

interface SimClient {
  id: string;
  seq: number;
  attempt: number;
  guess: NodeId;
  current: { entry: HistoryEntry; request: Request } | undefined;
  timer: number;
}

const TICK_MS = 10;
const ELECTION_MIN_MS = 150;
const ELECTION_MAX_MS = 300;
const HEARTBEAT_MS = 50;
const CLIENT_TIMEOUT_MS = 120;

const entryKey = (e: Entry) => (e.cmd ? `${e.term}:${e.cmd.client}:${e.cmd.seq}` : `${e.term}:noop`);

/** A min-heap of timed events; ties keep their order of scheduling. */
class Events {
  private heap: { at: number; n: number; run: () => void }[] = [];
  private n = 0;

  push(at: number, run: () => void): void {
    const h = this.heap;
    h.push({ at, n: this.n++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(h[p] as never, h[i] as never)) break;
      [h[p], h[i]] = [h[i] as never, h[p] as never];
      i = p;
    }
  }

  private less(a: { at: number; n: number }, b: { at: number; n: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.n < b.n);
  }

  pop(): { at: number; run: () => void } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as never, h[m] as never)) m = l;
        if (r < h.length && this.less(h[r] as never, h[m] as never)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i] as never, h[m] as never];
        i = m;
      }
    }
    return top;
  }
}

class Violation extends Error {}

export function simulate(options: SimOptions): SimResult {
  const { seed } = options;
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const size = options.nodes ?? 5;
  const faultyMs = options.faultyMs ?? 2500;
  const calmMs = options.calmMs ?? 1500;
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const events = new Events();
  let now = 0;
  const lossRate = rnd() * 0.25;
  const dupRate = rnd() * 0.05;
  const maxDelay = 2 + int(25);
  /** node → its side of the partition (everyone on side 0 when healed). */
  const side = new Map<NodeId, number>(ids.map((id) => [id, 0]));
  const result: SimResult = {
    seed,
    violation: undefined,
    history: [],
    leaders: 0,
    committed: 0,
    crashes: 0,
    partitions: 0,
    messages: 0,
    dropped: 0,
    converged: false,
  };
  const leaderOfTerm = new Map<number, NodeId>();
  /** index → the key of the entry committed there (the first node to apply it says which). */
  const committed = new Map<number, { key: string; result: string }>();
  let calm = false;

  const nodes = new Map<NodeId, SimNode>(
    ids.map((id) => [id, { id, raft: undefined, incarnation: 0, disk: { term: 0, votedFor: null, log: [] }, applied: new Map() }]),
  );
  const fail = (what: string): never => {
    throw new Violation(what);
  };

  const boot = (node: SimNode) => {
    node.incarnation += 1;
    node.applied = new Map();
    const config = {
      id: node.id,
      peers: ids.filter((p) => p !== node.id),
      electionMinMs: ELECTION_MIN_MS,
      electionMaxMs: ELECTION_MAX_MS,
      heartbeatMs: HEARTBEAT_MS,
      maxBatch: options.maxBatch ?? 1 + int(8),
    };
    node.raft = new RaftNode<ClientRef>(config, node.disk, rnd, now);
    const incarnation = node.incarnation;
    const tick = () => {
      if (node.incarnation !== incarnation || !node.raft) return;
      node.raft.tick(now);
      drive(node);
      events.push(now + TICK_MS, tick);
    };
    events.push(now + int(TICK_MS), tick);
  };

  const crash = (node: SimNode) => {
    node.raft = undefined;
    node.incarnation += 1;
    result.crashes += 1;
  };

  const reachable = (a: NodeId, b: NodeId) => side.get(a) === side.get(b);

  /** Delivers after a random delay (so messages reorder), maybe twice, maybe never. */
  const deliver = (from: NodeId, to: NodeId, run: () => void) => {
    result.messages += 1;
    const copies = rnd() < dupRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (!calm && (rnd() < lossRate || !reachable(from, to))) {
        result.dropped += 1;
        continue;
      }
      events.push(now + 1 + int(maxDelay), () => {
        if (calm || reachable(from, to)) run();
      });
    }
  };

  const checkLeader = (node: SimNode) => {
    const raft = node.raft as RaftNode<ClientRef>;
    if (raft.role !== "leader" || leaderOfTerm.get(raft.term) === node.id) return;
    const other = leaderOfTerm.get(raft.term);
    if (other !== undefined) fail(`election safety: ${other} and ${node.id} both leaders of term ${raft.term}`);
    leaderOfTerm.set(raft.term, node.id);
    result.leaders += 1;
    // Leader completeness: every entry committed so far is in the new leader's log.
    for (const [index, c] of committed) {
      const mine = raft.log[index - 1];
      if (!mine || entryKey(mine) !== c.key)
        fail(`leader completeness: ${node.id}, leader of term ${raft.term}, lacks committed entry ${index} (${c.key})`);
    }
  };

  const drive = (node: SimNode) => {
    const raft = node.raft;
    if (!raft) return;
    const out: Output<ClientRef> = raft.take();
    // Persist first ("fsync"), then answer.
    if (out.persist) {
      const p = out.persist;
      node.disk.term = p.term;
      node.disk.votedFor = p.votedFor;
      node.disk.log.length = p.from - 1;
      node.disk.log.push(...p.entries);
    }
    for (const a of out.applied) {
      const key = entryKey(a.entry);
      const res = JSON.stringify(a.result ?? null);
      const known = committed.get(a.index);
      if (known && (known.key !== key || known.result !== res))
        fail(`state-machine safety: ${node.id} applied ${key} → ${res} at ${a.index}, another node ${known.key} → ${known.result}`);
      if (!known) {
        committed.set(a.index, { key, result: res });
        result.committed = Math.max(result.committed, a.index);
      }
      if (node.applied.has(a.index)) fail(`state-machine safety: ${node.id} applied index ${a.index} twice`);
      if (a.index !== node.applied.size + 1) fail(`state-machine safety: ${node.id} applied ${a.index} out of order`);
      node.applied.set(a.index, key);
    }
    checkLeader(node);
    for (const s of out.send) {
      const msg = s.msg;
      const target = nodes.get(s.to) as SimNode;
      deliver(node.id, s.to, () => {
        if (!target.raft) return;
        target.raft.receive(node.id, msg, now);
        drive(target);
      });
    }
    for (const r of out.replies) {
      const client = clients.get(r.ref.client);
      if (client) deliver(node.id, "client", () => onReply(client, node.id, r.ref, r.reply));
    }
  };

  // ---- clients -----------------------------------------------------------------------------

  const clients = new Map<string, SimClient>();
  const keyNames = Array.from({ length: options.keys ?? 2 }, (_, i) => `k${i}`);
  const values = ["a", "b", "c"];
  side.set("client", 0);

  const send = (client: SimClient) => {
    const cur = client.current;
    if (!cur) return;
    client.attempt += 1;
    const ref: ClientRef = { client: client.id, seq: client.seq, attempt: client.attempt };
    const to = nodes.get(client.guess) as SimNode;
    const request: Request = { ...cur.request, ref } as Request;
    // Clients reach every node (they sit on side 0 with the majority... or not): like a node, subject to loss.
    deliver("client", to.id, () => {
      if (!to.raft) return;
      if (request.kind === "write") to.raft.propose(request.cmd, ref);
      else to.raft.read(request.key, ref);
      drive(to);
    });
    const attempt = client.attempt;
    events.push(now + CLIENT_TIMEOUT_MS, () => {
      if (client.current === cur && client.attempt === attempt) {
        client.guess = ids[int(ids.length)] as NodeId;
        send(client);
      }
    });
  };

  const nextOp = (client: SimClient) => {
    if (now > faultyMs + calmMs - 300) return;
    client.seq += 1;
    const key = keyNames[int(keyNames.length)] as string;
    const value = `${values[int(values.length)]}${client.seq}`;
    const pick = int(10);
    const call: KvOp =
      pick < 3
        ? { op: "put", value }
        : pick < 6
          ? { op: "get" }
          : pick < 7
            ? { op: "delete" }
            : { op: "cas", expect: rnd() < 0.3 ? null : `${values[int(values.length)]}${int(client.seq + 1)}`, value };
    const entry: HistoryEntry = { client: client.id, key, call, invokedAt: now, completedAt: Number.POSITIVE_INFINITY };
    result.history.push(entry);
    const cmdBase = { key, client: client.id, seq: client.seq };
    const request: Request =
      call.op === "get"
        ? { kind: "read", key, ref: undefined as never }
        : {
            kind: "write",
            cmd: (call.op === "put"
              ? { op: "put", value: call.value, ...cmdBase }
              : call.op === "delete"
                ? { op: "delete", ...cmdBase }
                : { op: "cas", expect: call.expect, value: call.value, ...cmdBase }) as Command,
            ref: undefined as never,
          };
    client.current = { entry, request };
    send(client);
  };

  function onReply(client: SimClient, from: NodeId, ref: ClientRef, reply: ClientReply) {
    const cur = client.current;
    if (!cur || ref.seq !== client.seq) return;
    if (reply.kind === "notLeader") {
      if (ref.attempt !== client.attempt) return;
      client.guess = reply.leader ?? (ids[int(ids.length)] as NodeId);
      const attempt = client.attempt;
      events.push(now + 5 + int(20), () => {
        if (client.current === cur && client.attempt === attempt) send(client);
      });
      return;
    }
    client.guess = from;
    cur.entry.completedAt = now;
    cur.entry.ok = reply.result.ok;
    if (cur.entry.call.op === "get") cur.entry.value = reply.result.value ?? null;
    client.current = undefined;
    events.push(now + int(30), () => nextOp(client));
  }

  for (let c = 0; c < (options.clients ?? 3); c++) {
    const client: SimClient = { id: `c${c}`, seq: 0, attempt: 0, guess: ids[int(ids.length)] as NodeId, current: undefined, timer: 0 };
    clients.set(client.id, client);
    events.push(50 + int(200), () => nextOp(client));
  }

  // ---- faults ------------------------------------------------------------------------------

  const fault = () => {
    if (now >= faultyMs) return;
    checkLogMatching([...nodes.values()], fail);
    const roll = rnd();
    const live = [...nodes.values()].filter((n) => n.raft);
    const dead = [...nodes.values()].filter((n) => !n.raft);
    if (roll < 0.25 && live.length > 0) {
      // Crash the leader more often than not: that is where the interesting schedules are.
      const leader = live.find((n) => n.raft?.role === "leader");
      crash(leader && rnd() < 0.6 ? leader : (live[int(live.length)] as SimNode));
    } else if (roll < 0.5 && dead.length > 0) boot(dead[int(dead.length)] as SimNode);
    else if (roll < 0.7) {
      result.partitions += 1;
      for (const id of ids) side.set(id, int(2));
    } else if (roll < 0.85) for (const id of ids) side.set(id, 0);
    events.push(now + 100 + int(400), fault);
  };

  for (const node of nodes.values()) boot(node);
  events.push(200 + int(300), fault);
  events.push(faultyMs, () => {
    calm = true;
    for (const id of ids) side.set(id, 0);
    for (const node of nodes.values()) if (!node.raft) boot(node);
  });

  try {
    for (;;) {
      const ev = events.pop();
      if (!ev || ev.at > faultyMs + calmMs) break;
      now = ev.at;
      ev.run();
    }
    checkLogMatching([...nodes.values()], fail);
    result.converged = converged([...nodes.values()]);
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
    result.violation = `${err.message} (at ${now} ms)`;
  }
  return result;
}

/** Log matching: where two logs hold an entry of the same term at an index, they are equal up to it. */
function checkLogMatching(nodes: SimNode[], fail: (what: string) => never): void {
  const logs = nodes.map((n) => ({ id: n.id, log: n.raft?.log ?? n.disk.log }));
  for (let a = 0; a < logs.length; a++)
    for (let b = a + 1; b < logs.length; b++) {
      const x = logs[a] as { id: string; log: Entry[] };
      const y = logs[b] as { id: string; log: Entry[] };
      let i = Math.min(x.log.length, y.log.length);
      while (i > 0 && x.log[i - 1]?.term !== y.log[i - 1]?.term) i--;
      for (let j = 0; j < i; j++)
        if (entryKey(x.log[j] as Entry) !== entryKey(y.log[j] as Entry))
          fail(`log matching: ${x.id} and ${y.id} agree on the term at ${i} but differ at ${j + 1}`);
    }
}

function converged(nodes: SimNode[]): boolean {
  const commits = nodes.map((n) => n.raft?.commitIndex ?? -1);
  const min = Math.min(...commits);
  if (min < 1 || min !== Math.max(...commits)) return false;
  const first = (nodes[0] as SimNode).raft?.log.slice(0, min).map(entryKey).join();
  return nodes.every((n) => n.raft?.log.slice(0, min).map(entryKey).join() === first);
}
