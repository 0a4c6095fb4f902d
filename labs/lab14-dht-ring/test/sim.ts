// A seeded simulation of a ring: RingNode cores on a simulated clock, a network that delays,
// reorders and drops messages, beacons, crashes and joins. The same seed replays the same schedule.
import { seededRandom } from "@zlabs/kit";
import type { PeerRequest, Reply, RequestBody } from "../internal/protocol.ts";
import { type CoreConfig, coreDefaults, RingNode } from "../internal/ring-node.ts";

export interface SimOptions {
  seed: number;
  /** Chance that a message (request, reply or beacon) is lost. */
  loss?: number;
  /** Delivery delay, uniform in [min, max] ms: different delays reorder messages. */
  delayMs?: [number, number];
  beaconMs?: number;
  /** No beacons at all: membership is set by hand (views that disagree). */
  beacons?: boolean;
  core?: Partial<CoreConfig>;
  /** Drops every message between nodes this says yes to (on top of the random loss). */
  cut?: (request: PeerRequest, from: string, to: string) => boolean;
}

interface SimNode {
  core: RingNode;
  alive: boolean;
}

/** A reply's origin: the peer that asked, or a client request's number. */
const peerOrigin = (id: string) => Buffer.from(`P${id}`);
const clientOrigin = (n: number) => Buffer.from(`C${n}`);

export class Sim {
  now = 0;
  readonly rnd: () => number;
  readonly nodes = new Map<string, SimNode>();
  private readonly events: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;
  private nextClient = 1;
  readonly answers = new Map<number, Reply[]>();
  /** Messages sent between nodes, by op. */
  readonly sent = new Map<string, number>();
  private readonly loss: number;
  private readonly delay: [number, number];
  private readonly beaconMs: number;
  private n = 0;

  constructor(private readonly options: SimOptions) {
    this.rnd = seededRandom(options.seed);
    this.loss = options.loss ?? 0;
    this.delay = options.delayMs ?? [1, 20];
    this.beaconMs = options.beaconMs ?? 1000;
    this.every(100, () => {
      for (const n of this.nodes.values()) if (n.alive) n.core.tick();
    });
    if (options.beacons !== false)
      this.every(this.beaconMs, () => {
        for (const [id, n] of this.nodes) if (n.alive) this.beaconFrom(id, `tcp://sim:${id.slice(0, 4)}`);
      });
  }

  /** A uuid from the simulation's seed. */
  private newId(): string {
    let hex = "";
    while (hex.length < 32) hex += Math.floor(this.rnd() * 16).toString(16);
    return hex;
  }

  at(delay: number, run: () => void): void {
    const ev = { at: this.now + delay, seq: this.seq++, run };
    // Sorted insert (the queue stays small).
    let i = this.events.length;
    while (
      i > 0 &&
      ((this.events[i - 1] as typeof ev).at > ev.at ||
        ((this.events[i - 1] as typeof ev).at === ev.at && (this.events[i - 1] as typeof ev).seq > ev.seq))
    )
      i--;
    this.events.splice(i, 0, ev);
  }

  private every(ms: number, run: () => void): void {
    const loop = () => {
      run();
      this.at(ms, loop);
    };
    this.at(ms * this.rnd(), loop);
  }

  private lost(): boolean {
    return this.loss > 0 && this.rnd() < this.loss;
  }

  private later(): number {
    return this.delay[0] + this.rnd() * (this.delay[1] - this.delay[0]);
  }

  beaconFrom(id: string, endpoint: string | undefined): void {
    for (const [other, n] of this.nodes)
      if (other !== id && !this.lost()) this.at(this.later(), () => n.alive && n.core.beacon(id, endpoint));
  }

  addNode(name = `n${++this.n}`): RingNode {
    const id = this.newId();
    const config: CoreConfig = { ...coreDefaults, id, endpoint: `tcp://sim:${id.slice(0, 4)}`, name, ...this.options.core };
    const core = new RingNode(
      config,
      {
        connect: () => {},
        disconnect: () => {},
        send: (peer, request) => this.deliver(id, peer, request),
        reply: (origin, reply) => this.answer(id, origin, reply),
      },
      () => this.now,
    );
    this.nodes.set(id, { core, alive: true });
    return core;
  }

  private deliver(from: string, to: string, request: PeerRequest): void {
    this.sent.set(request.op, (this.sent.get(request.op) ?? 0) + 1);
    if (this.lost() || this.options.cut?.(request, from, to)) return;
    this.at(this.later(), () => {
      const target = this.nodes.get(to);
      if (!target?.alive || !this.nodes.get(from)?.alive) return;
      target.core.request(peerOrigin(from), request, target.core.members.has(from) ? from : undefined);
    });
  }

  private answer(from: string, origin: Buffer, reply: Reply): void {
    const text = origin.toString();
    if (text.startsWith("C")) {
      const n = Number(text.slice(1));
      this.answers.set(n, [...(this.answers.get(n) ?? []), reply]);
      return;
    }
    if (this.lost()) return;
    const to = text.slice(1);
    this.at(this.later(), () => {
      const target = this.nodes.get(to);
      if (target?.alive && this.nodes.get(from)?.alive) target.core.replied(from, reply);
    });
  }

  crash(id: string): void {
    const n = this.nodes.get(id);
    if (n) n.alive = false;
  }

  /** A client request to one node; its answers are collected under the number returned. */
  request(to: string, body: RequestBody): number {
    const n = this.nextClient++;
    this.at(this.later(), () => this.nodes.get(to)?.core.request(clientOrigin(n), { ...body, rid: n } as PeerRequest));
    return n;
  }

  run(ms: number): void {
    const end = this.now + ms;
    while (this.events.length > 0 && (this.events[0] as { at: number }).at <= end) {
      const ev = this.events.shift() as { at: number; run: () => void };
      this.now = ev.at;
      ev.run();
    }
    this.now = end;
  }

  /** Runs until the client request has an answer (or the deadline). */
  until(n: number, maxMs = 30_000): Reply | undefined {
    const end = this.now + maxMs;
    while (!this.answers.has(n) && this.now < end) this.run(10);
    return this.answers.get(n)?.[0];
  }

  alive(): RingNode[] {
    return [...this.nodes.values()].filter((n) => n.alive).map((n) => n.core);
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rnd() * list.length)] as T;
  }
}
