import { type Logger, peerLimits, receiveLoop, SendQueue, seededRandom, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { BeaconChannel } from "./beacon.ts";
import { decodeBeacon, encodeRequest, fromMailboxReply, LEAVING_PORT, type Reply, type Request, type RequestBody } from "./protocol.ts";
import { type ClientSnapshot, clientView, VIEW_MS } from "./view.ts";

/** How long the client waits for a node's answer before asking the next node (Lazy Pirate, ch4). */
export const CLIENT_TIMEOUT_MS = 3000;
export const CLIENT_ATTEMPTS = 3;
/** A node whose beacons stopped this long ago is not asked any more. */
export const NODE_EXPIRY_MS = 5000;

export interface ClientConfig {
  /** Node mailboxes to use; none: the nodes heard on the beacon port. */
  nodes: string[];
  beaconPort: number;
  beaconAddress: string;
  timeoutMs: number;
  attempts: number;
  /** Operations to run, 0 for ever. */
  ops: number;
  /** Operations a second, 0 as fast as the ring answers. */
  rate: number;
  /** Distinct keys written (user:0000 ...). */
  keys: number;
  /** Share of operations that are writes once every key exists. */
  putRatio: number;
  inFlight: number;
  seed: number;
}

interface Link {
  endpoint: string;
  dealer: Dealer;
  queue: SendQueue;
  lastHeard: number;
  /** From beacons: the node's uuid; undefined for a --node endpoint. */
  id: string | undefined;
}

export interface ClientOptions {
  publish?: (view: View) => void;
}

export type Outcome = "ok" | "missing" | "stale" | "error";

/**
 * A client of the ring: sends each request to one node (any node will do: it forwards to the
 * owners), waits for the REPLY with its rid, and on silence asks the next node, as a Freelance
 * client does. It checks every read against what it wrote itself.
 */
export class DhtClient {
  private readonly links = new Map<string, Link>();
  private readonly beacons: BeaconChannel | undefined;
  private readonly stopLoops = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private nextRid = 1;
  private turn = 0;
  /** What this client wrote last to each key, and was acknowledged. */
  readonly written = new Map<string, string>();
  readonly counts = { puts: 0, gets: 0, ok: 0, missing: 0, stale: 0, errors: 0, retries: 0, dropped: 0 };
  private last: string | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly config: ClientConfig,
    private readonly log: Logger,
    private readonly options: ClientOptions = {},
  ) {
    for (const endpoint of config.nodes) this.link(endpoint, undefined);
    if (config.nodes.length === 0)
      this.beacons = new BeaconChannel(config.beaconPort, config.beaconAddress, (d, from) => this.onDatagram(d, from));
  }

  private link(endpoint: string, id: string | undefined): void {
    const dealer = new Dealer({ linger: 0, sendTimeout: 0, sendHighWaterMark: 10_000, ...peerLimits() });
    dealer.connect(endpoint);
    const link: Link = { endpoint, dealer, queue: new SendQueue(dealer), lastHeard: Date.now(), id };
    this.links.set(id ?? endpoint, link);
    this.loops.push(
      receiveLoop(
        dealer,
        this.stopLoops.signal,
        (frames) => {
          const m = fromMailboxReply(frames);
          if (m.kind === "invalid") {
            this.counts.dropped += 1;
            this.log.warn({ node: endpoint, reason: m.reason }, "malformed reply dropped");
            return;
          }
          this.waiting.get(m.reply.rid)?.(m.reply);
        },
        { log: this.log, name: endpoint },
      ).catch(() => {}),
    );
  }

  private onDatagram(datagram: Buffer, from: string): void {
    const b = decodeBeacon(datagram);
    if (b.kind === "invalid") {
      this.counts.dropped += 1;
      this.log.debug({ from, reason: b.reason, total: this.counts.dropped }, "datagram dropped");
      return;
    }
    const known = this.links.get(b.id);
    if (b.port === LEAVING_PORT) {
      if (known) this.unlink(b.id, known);
      return;
    }
    const endpoint = `tcp://${from}:${b.port}`;
    if (known && known.endpoint === endpoint) {
      known.lastHeard = Date.now();
      return;
    }
    if (known) this.unlink(b.id, known);
    this.link(endpoint, b.id);
    this.log.info({ node: b.id.slice(0, 8), endpoint }, "node heard");
  }

  private unlink(key: string, link: Link): void {
    link.dealer.close();
    this.links.delete(key);
  }

  /** The nodes it may ask now. */
  nodes(): Link[] {
    const now = Date.now();
    for (const [key, link] of this.links) if (link.id !== undefined && now - link.lastHeard > NODE_EXPIRY_MS) this.unlink(key, link);
    return [...this.links.values()];
  }

  async start(): Promise<void> {
    await this.beacons?.start();
  }

  /** One request, to the next node in turn; on silence, to the one after, up to the attempts. */
  async call(request: RequestBody, signal?: AbortSignal): Promise<Reply | undefined> {
    for (let attempt = 1; attempt <= this.config.attempts && !signal?.aborted; attempt++) {
      const nodes = this.nodes();
      if (nodes.length === 0) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const link = nodes[this.turn++ % nodes.length] as Link;
      const rid = this.nextRid++;
      const reply = await new Promise<Reply | undefined>((resolve) => {
        const timer = setTimeout(() => done(undefined), this.config.timeoutMs);
        const done = (r: Reply | undefined) => {
          clearTimeout(timer);
          this.waiting.delete(rid);
          resolve(r);
        };
        this.waiting.set(rid, done);
        link.queue.send(encodeRequest({ ...request, rid } as Request)).catch(() => done(undefined));
      });
      if (reply && reply.status !== "error") return reply;
      if (attempt < this.config.attempts) this.counts.retries += 1;
      this.log.debug({ node: link.endpoint, key: request.key, reason: reply?.reason ?? "no answer" }, "asking another node");
    }
    return undefined;
  }

  async put(key: string, value: string, signal?: AbortSignal): Promise<Reply | undefined> {
    const reply = await this.call({ op: "PUT", key, value: Buffer.from(value), hops: 0 }, signal);
    this.counts.puts += 1;
    if (reply?.status === "ok") this.written.set(key, value);
    else {
      this.counts.errors += 1;
      this.log.warn({ key }, "put failed: no node answered");
    }
    this.last = `PUT ${key} → ${reply ? `${reply.node.slice(0, 8)} (${reply.replicas ?? 0} copies)` : "no answer"}`;
    return reply;
  }

  async get(key: string, signal?: AbortSignal): Promise<Outcome> {
    const reply = await this.call({ op: "GET", key, hops: 0 }, signal);
    this.counts.gets += 1;
    const expected = this.written.get(key);
    let outcome: Outcome;
    if (!reply) outcome = "error";
    else if (reply.status === "not-found") outcome = expected === undefined ? "ok" : "missing";
    else outcome = reply.value?.toString() === expected ? "ok" : "stale";
    this.counts[outcome === "error" ? "errors" : outcome] += 1;
    if (outcome === "missing" || outcome === "stale") this.log.warn({ key, expected, got: reply?.value?.toString() }, `read ${outcome}`);
    if (outcome === "error") this.log.warn({ key }, "get failed: no node answered");
    this.last = `GET ${key} → ${reply ? reply.node.slice(0, 8) : "no answer"}: ${outcome}`;
    return outcome;
  }

  snapshot(): ClientSnapshot {
    const ops = this.counts.puts + this.counts.gets;
    return {
      nodes: this.nodes().map((l) => l.endpoint),
      written: this.counts.puts,
      keys: this.written.size,
      gets: this.counts.gets,
      ok: this.counts.ok,
      missing: this.counts.missing,
      stale: this.counts.stale,
      errors: this.counts.errors,
      retries: this.counts.retries,
      perSecond: (ops * 1000) / Math.max(1000, Date.now() - this.startedAt),
      last: this.last,
    };
  }

  /** The workload: keys written first, then reads checked against them, with some rewrites. */
  async run(signal: AbortSignal): Promise<number> {
    await this.start();
    const publish = this.options.publish;
    const viewTimer = publish ? setInterval(() => publish(clientView(this.snapshot())), VIEW_MS) : undefined;
    const rnd = seededRandom(this.config.seed);
    const key = (i: number) => `user:${String(i).padStart(4, "0")}`;
    let started = 0;
    let version = 0;
    const gap = this.config.rate > 0 ? 1000 / this.config.rate : 0;
    const worker = async () => {
      while (!signal.aborted && (this.config.ops === 0 || started < this.config.ops)) {
        const n = started++;
        const t0 = Date.now();
        if (n < this.config.keys) await this.put(key(n), `v${++version}`, signal);
        else if (rnd() < this.config.putRatio) await this.put(key(Math.floor(rnd() * this.config.keys)), `v${++version}`, signal);
        else await this.get(key(Math.floor(rnd() * Math.min(this.config.keys, this.written.size || 1))), signal);
        if (gap > 0) await new Promise((r) => setTimeout(r, Math.max(0, gap - (Date.now() - t0))));
      }
    };
    try {
      await Promise.all(Array.from({ length: this.config.inFlight }, worker));
    } finally {
      if (viewTimer) clearInterval(viewTimer);
      publish?.(clientView(this.snapshot()));
      this.close();
    }
    const c = this.counts;
    this.log.info({ puts: c.puts, gets: c.gets, ok: c.ok, missing: c.missing, stale: c.stale, errors: c.errors }, "done");
    return c.missing + c.stale > 0 ? 1 : 0;
  }

  close(): void {
    this.stopLoops.abort();
    this.beacons?.close();
    for (const link of this.links.values()) link.dealer.close();
    this.links.clear();
  }
}
