// A seeded simulation of a gossip cluster: NodeCores on a virtual clock, a network that delays,
// drops and partitions, crashes and restarts from each node's "disk". Everything random comes from
// one seed, so a failing schedule is replayed from its seed alone.
import { seededRandom } from "@zlabs/kit";
import { type CoreConfig, NodeCore, type NodeEvent } from "../internal/node-core.ts";
import type { BusMessage, Entry, MailMessage } from "../internal/protocol.ts";

export const SIM_CONFIG = {
  probeMs: 200,
  ackTimeoutMs: 60,
  suspectMs: 600,
  deadRetainMs: 5000,
  indirect: 2,
  retransmit: 3,
  joinMs: 500,
  antiEntropyMs: 200,
  syncMs: 1000,
  outlierMs: 200,
  tombstoneMs: 3_600_000,
} as const;

const STEP_MS = 5;

interface SimNode {
  id: string;
  rank: number;
  skewMs: number;
  core: NodeCore | undefined;
  /** What this node wrote to disk: its entries and incarnation. */
  disk: Entry[];
  inc: number;
  events: NodeEvent[];
}

interface InFlight {
  at: number;
  to: string;
  deliver: (core: NodeCore) => void;
}

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Chance a message is lost. */
  loss?: number;
  maxDelayMs?: number;
  /** A node's clock skew, by index. */
  skews?: Record<number, number>;
}

export class Sim {
  readonly random: () => number;
  now = 0;
  readonly nodes: SimNode[] = [];
  private queue: InFlight[] = [];
  /** Nodes in different groups cannot talk; undefined: no partition. */
  private groups: Map<string, number> | undefined;
  loss: number;
  readonly maxDelayMs: number;
  /** Every bus publish and mailbox message sent, by kind. */
  readonly sent = new Map<string, number>();

  constructor(readonly options: SimOptions) {
    this.random = seededRandom(options.seed);
    this.loss = options.loss ?? 0;
    this.maxDelayMs = options.maxDelayMs ?? 20;
    for (let i = 0; i < options.nodes; i++) {
      const node: SimNode = {
        id: `n${i + 1}`,
        rank: i + 1,
        skewMs: options.skews?.[i] ?? 0,
        core: undefined,
        disk: [],
        inc: -1,
        events: [],
      };
      this.nodes.push(node);
      this.start(node);
    }
  }

  private mailbox = (id: string) => `tcp://${id}:1`;
  private pub = (id: string) => `tcp://${id}:2`;
  private idOf = (endpoint: string) => endpoint.slice(6, endpoint.lastIndexOf(":"));

  start(node: SimNode): void {
    const seeds = this.nodes.length > 1 ? [this.mailbox("n1"), this.mailbox("n2")] : [this.mailbox("n1")];
    const config: CoreConfig = {
      ...SIM_CONFIG,
      id: node.id,
      rank: node.rank,
      pub: this.pub(node.id),
      mailbox: this.mailbox(node.id),
      seeds,
      skewMs: node.skewMs,
      inc: node.inc + 1,
    };
    node.inc = config.inc;
    const core = new NodeCore(config, { now: () => this.now, wall: () => 1_700_000_000_000 + this.now }, this.random, {
      send: (to, m) => this.send(node.id, this.idOf(to), m),
      publish: (m) => this.publish(node.id, m),
      applied: (e) => node.disk.push(e),
      event: (e) => {
        node.events.push(e);
        if (e.kind === "refuted") node.inc = e.inc;
      },
    });
    for (const e of node.disk) core.replay(e);
    node.core = core;
  }

  crash(i: number): void {
    const node = this.nodes[i] as SimNode;
    node.core = undefined;
  }

  restart(i: number): void {
    const node = this.nodes[i] as SimNode;
    if (!node.core) this.start(node);
  }

  partition(groups: string[][]): void {
    this.groups = new Map(groups.flatMap((g, n) => g.map((id) => [id, n] as [string, number])));
  }

  heal(): void {
    this.groups = undefined;
  }

  private reachable(a: string, b: string): boolean {
    return !this.groups || this.groups.get(a) === this.groups.get(b);
  }

  private count(kind: string): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1);
  }

  private enqueue(from: string, to: string, deliver: (core: NodeCore) => void): void {
    if (!this.reachable(from, to) || this.random() < this.loss) return;
    this.queue.push({ at: this.now + 1 + this.random() * this.maxDelayMs, to, deliver });
  }

  private send(from: string, to: string, m: MailMessage): void {
    this.count(m.kind);
    this.enqueue(from, to, (core) => core.handleMail(structuredClone(m)));
  }

  private publish(from: string, m: BusMessage): void {
    this.count(`bus-${m.kind}`);
    // A SUB is connected to the publisher when the subscriber holds it as a live member.
    for (const node of this.nodes) {
      const core = node.core;
      if (!core || node.id === from) continue;
      const member = core.membership.members.get(from);
      if (member && member.state !== "dead") this.enqueue(from, node.id, (c) => c.handleBus(structuredClone(m)));
    }
  }

  /** Advances the virtual clock by ms, delivering what is due and ticking every live node. */
  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += STEP_MS;
      const due = this.queue.filter((f) => f.at <= this.now);
      if (due.length > 0) {
        this.queue = this.queue.filter((f) => f.at > this.now);
        for (const f of due) {
          const core = this.nodes.find((n) => n.id === f.to)?.core;
          if (core) f.deliver(core);
        }
      }
      for (const n of this.nodes) n.core?.tick();
    }
  }

  /** Runs until cond holds (checked every step), or maxMs; returns the ms it took, or undefined. */
  runUntil(cond: () => boolean, maxMs: number): number | undefined {
    const start = this.now;
    while (this.now - start < maxMs) {
      if (cond()) return this.now - start;
      this.run(STEP_MS);
    }
    return cond() ? this.now - start : undefined;
  }

  live(): NodeCore[] {
    return this.nodes.flatMap((n) => (n.core ? [n.core] : []));
  }

  /** A write of key=value (or a delete) on node i. */
  write(i: number, key: string, value: string | undefined): void {
    this.nodes[i]?.core?.write(key, value);
  }

  converged(): boolean {
    const digests = new Set(this.live().map((c) => c.map.digest()));
    return digests.size === 1;
  }

  /** Every live node sees every other live node as alive, and the same coordinator. */
  settled(): boolean {
    const live = this.live();
    const ids = new Set(live.map((c) => c.id));
    return live.every(
      (c) =>
        [...ids].every((id) => id === c.id || c.membership.members.get(id)?.state === "alive") &&
        c.coordinator === live.reduce((best, x) => (x.config.rank < best.config.rank ? x : best)).id,
    );
  }
}
