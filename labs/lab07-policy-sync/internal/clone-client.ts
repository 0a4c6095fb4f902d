/**
 * The CHP client (the Guide's clone agent, model 6): holds a copy of the map, or of one subtree,
 * from one server at a time, and moves to the next server when the current one goes silent.
 *
 * One session with a server:
 *   1. SUB to the server's publisher (P+1), subscribed to the subtree (and "HUGZ" for a subtree);
 *      DEALER to its snapshot port (P).
 *   2. Wait for the first message on the SUB (a HUGZ, every second): the subscription has reached
 *      the server, so no update published after the snapshot can be missed (the slow joiner).
 *   3. ICANHAZ?; read KVSYNCs into a new map until KTHXBAI (its sequence S); meanwhile the SUB is
 *      read into a bounded buffer, not applied.
 *   4. Swap in the new map, apply the buffered updates with seq > S, then every update as it comes;
 *      anything with seq <= the last one is dropped (HUGZ included).
 * A session ends when the server is silent for serverTtlMs (no HUGZ, no update; no snapshot reply
 * while syncing): the client moves to the next server (fail-over; the snapshot request there is the
 * Binary Star vote). It also ends on a gap in sequence numbers (a whole-map client only: a subtree
 * client sees only its keys' numbers, which jump by design): the client takes a new snapshot from
 * the same server. The old map stays in use until the new snapshot is complete.
 */
import { type Logger, pause, peerLimits, receiveLoop, runLoops, SendQueue } from "@zlabs/kit";
import { Dealer, Subscriber } from "zeromq";
import { mapDigest } from "./acl.ts";
import { type KvMsg, MAX_KEY_BYTES, MAX_VALUE_BYTES } from "./kvmsg.ts";
import { type FromPublisher, fromPublisher, fromSnapshotServer, HUGZ, icanhaz, inSubtree } from "./protocol.ts";

/** The Guide's SERVER_TTL: a server silent this long is taken for dead. */
export const SERVER_TTL_MS = 5000;
/** The most keys a client takes in a snapshot (and holds). */
export const MAX_KEYS = 200_000;
/** The largest frame a client takes from a server: a value, a key or the properties. */
export const MAX_FRAME_BYTES = Math.max(MAX_VALUE_BYTES, MAX_KEY_BYTES, 1024);
/** Queue room for updates that arrive while a snapshot loads (libzmq drops past it: a gap follows). */
const RECEIVE_HWM = 100_000;

/** A server's three CHP ports, from the snapshot endpoint P: publisher P+1, collector P+2. */
export interface Server {
  snapshot: string;
  publisher: string;
  collector: string;
}

export function chpServer(endpoint: string): Server {
  const m = /^(tcp:\/\/.+):(\d+)$/.exec(endpoint);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port > 0 && port + 2 <= 65535)) throw new Error(`${endpoint} is not tcp://host:port (CHP's P; P+1 and P+2 follow)`);
  return { snapshot: endpoint, publisher: `${m[1]}:${port + 1}`, collector: `${m[1]}:${port + 2}` };
}

export interface Entry {
  value: Buffer;
  seq: bigint;
  /** The ttl property the server sent (seconds), 0 for none. */
  ttlS: number;
  uuid: Buffer;
}

export interface CloneClientConfig {
  servers: Server[];
  subtree: string;
  serverTtlMs: number;
  maxKeys: number;
  /** Our name at the servers (the DEALER's routing id, with a suffix): shown in their views. */
  name: string;
}

export interface CloneClientHooks {
  /** A snapshot loaded (the map replaced); askedAt: when this session first sent ICANHAZ (monotonic ms). */
  onSnapshot?: (map: ReadonlyMap<string, Entry>, seq: bigint, askedAt: number) => void;
  /** An update applied to the map (an empty value: a delete). */
  onUpdate?: (msg: KvMsg, ttlS: number) => void;
  /** Every valid KVPUB received, applied or not, before any check (a passive server clears its pending list with them). */
  onReceived?: (msg: KvMsg) => void;
  /** A session ended and the next begins. */
  onSessionEnd?: (why: SessionEnd, server: string, next: string) => void;
}

export type SessionEnd = "silent" | "gap" | "overflow";
export type ClientState = "connecting" | "syncing" | "active";

export class CloneClient {
  map = new Map<string, Entry>();
  seq = 0n;
  state: ClientState = "connecting";
  /** Index of the server in use. */
  current = 0;
  /** Counters for the view and the tests. */
  readonly counts = { snapshots: 0, updates: 0, stale: 0, gaps: 0, failovers: 0, invalid: 0, outside: 0 };
  /** Updates that came while the last snapshot loaded (applied after it when newer). */
  lastBuffered = 0;
  /** Whether a snapshot has been loaded at least once. */
  synced = false;
  private readonly now: () => number;

  constructor(
    private readonly config: CloneClientConfig,
    private readonly log: Logger,
    private readonly hooks: CloneClientHooks = {},
    now?: () => number,
  ) {
    if (config.servers.length === 0) throw new Error("no server");
    this.now = now ?? (() => performance.now());
  }

  get server(): Server {
    return this.config.servers[this.current] as Server;
  }

  digest(): string {
    return mapDigest([...this.map].map(([k, e]) => [k, e.value] as [string, Buffer]));
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const why = await this.session(this.server, signal);
      if (!why || signal.aborted) return;
      this.state = "connecting";
      const from = this.server.snapshot;
      if (why === "silent") {
        this.current = (this.current + 1) % this.config.servers.length;
        this.counts.failovers += 1;
      }
      this.hooks.onSessionEnd?.(why, from, this.server.snapshot);
      // A snapshot too large for us will be too large again soon: no request storm.
      if (why === "overflow" && !(await pause(this.config.serverTtlMs, signal))) return;
    }
  }

  private async session(server: Server, outer: AbortSignal): Promise<SessionEnd | undefined> {
    const { subtree } = this.config;
    const sub = new Subscriber({ linger: 0, receiveHighWaterMark: RECEIVE_HWM, ...peerLimits(MAX_FRAME_BYTES) });
    const suffix = Math.floor(Math.random() * 0xffff)
      .toString(16)
      .padStart(4, "0");
    const dealer = new Dealer({
      linger: 0,
      routingId: `${this.config.name.slice(0, 200)}#${suffix}`,
      receiveHighWaterMark: RECEIVE_HWM,
      ...peerLimits(MAX_FRAME_BYTES),
    });
    const toServer = new SendQueue(dealer);
    sub.subscribe(subtree);
    if (subtree !== "") sub.subscribe(HUGZ);
    sub.connect(server.publisher);
    dealer.connect(server.snapshot);

    const stop = new AbortController();
    let ended: SessionEnd | undefined;
    const end = (why: SessionEnd) => {
      ended ??= why;
      stop.abort();
    };
    const onOuter = () => stop.abort();
    outer.addEventListener("abort", onOuter, { once: true });

    this.state = "connecting";
    /** The last sign of progress: the session start, a SUB message, a snapshot message. */
    let progress = this.now();
    let fresh = new Map<string, Entry>();
    /** When ICANHAZ was last sent, and whether any snapshot message has come since the first. */
    let askedAt = 0;
    let firstAsk = 0;
    let answered = false;
    const ask = () => {
      askedAt = this.now();
      if (firstAsk === 0) firstAsk = askedAt;
      toServer.send(icanhaz(subtree)).catch((err: unknown) => log.warn({ err }, "ICANHAZ not sent"));
    };
    const buffered: KvMsg[] = [];
    const bufferedTtl: number[] = [];
    const log = this.log;
    this.log.info({ server: server.snapshot, subtree }, "connecting to server");

    const onSub = (frames: Buffer[]) => {
      const msg = fromPublisher(frames);
      if (msg.kind === "invalid") return this.invalid("update", msg.reason);
      if (msg.kind === "kvpub") this.hooks.onReceived?.(msg.msg);
      if (this.state === "connecting") {
        // The subscription has reached the server: ask for the snapshot now.
        this.state = "syncing";
        progress = this.now();
        ask();
      }
      if (this.state === "syncing") {
        if (msg.kind === "kvpub") {
          if (buffered.length >= RECEIVE_HWM) return end("overflow");
          buffered.push(msg.msg);
          bufferedTtl.push(msg.ttlS);
        }
        return;
      }
      progress = this.now();
      const why = this.onUpdate(msg);
      if (why) end(why);
    };

    const onDealer = (frames: Buffer[]) => {
      const msg = fromSnapshotServer(frames);
      if (msg.kind === "invalid") return this.invalid("snapshot", msg.reason);
      if (this.state !== "syncing") {
        // The answer to a repeated ICANHAZ after the first one was answered after all: not needed.
        if (this.state === "active") this.counts.stale += 1;
        else this.invalid("snapshot", `${msg.kind} while ${this.state}`);
        return;
      }
      progress = this.now();
      answered = true;
      if (msg.kind === "kvsync") {
        if (!inSubtree(msg.msg.key, subtree)) return this.outside(msg.msg.key);
        if (!fresh.has(msg.msg.key) && fresh.size >= this.config.maxKeys) {
          log.error({ maxKeys: this.config.maxKeys }, "snapshot larger than --max-keys: abandoned");
          return end("overflow");
        }
        fresh.set(msg.msg.key, { value: msg.msg.body, seq: msg.msg.seq, ttlS: msg.ttlS, uuid: msg.msg.uuid });
        return;
      }
      this.map = fresh;
      fresh = new Map();
      this.seq = msg.seq;
      this.state = "active";
      this.synced = true;
      this.counts.snapshots += 1;
      this.lastBuffered = buffered.length;
      log.info(
        { server: server.snapshot, keys: this.map.size, seq: String(this.seq), subtree, buffered: buffered.length },
        "snapshot loaded",
      );
      this.hooks.onSnapshot?.(this.map, this.seq, firstAsk);
      for (let i = 0; i < buffered.length; i++) {
        const why = this.onUpdate({ kind: "kvpub", msg: buffered[i] as KvMsg, ttlS: bufferedTtl[i] as number });
        if (why) return end(why);
      }
      buffered.length = 0;
      bufferedTtl.length = 0;
    };

    const watch = () => {
      // A server that may not serve yet (a primary waiting for its peer) drops the request without a
      // reply: ask again, every fifth of the silence allowed, until it answers or the silence ends the session.
      if (this.state === "syncing" && !answered && this.now() - askedAt >= this.config.serverTtlMs / 5) ask();
      if (this.now() - progress > this.config.serverTtlMs) {
        log.warn({ server: server.snapshot, state: this.state, silentMs: Math.round(this.now() - progress) }, "server silent");
        end("silent");
      }
    };

    try {
      await runLoops(
        stop.signal,
        { sockets: [sub, dealer], every: [{ ms: Math.max(10, Math.floor(this.config.serverTtlMs / 10)), run: watch }], log },
        () => receiveLoop(sub, stop.signal, onSub, { log, name: "subscriber" }),
        () => receiveLoop(dealer, stop.signal, onDealer, { log, name: "snapshot" }),
      );
    } finally {
      outer.removeEventListener("abort", onOuter);
    }
    return ended;
  }

  /** One update while active; a reason to end the session on a gap. */
  private onUpdate(msg: FromPublisher): SessionEnd | undefined {
    if (msg.kind === "invalid") return;
    const wholeMap = this.config.subtree === "";
    if (msg.kind === "hugz") {
      // SPEC's HUGZ carries 0; REF's carries the server's sequence: ahead of ours is a gap.
      if (wholeMap && msg.seq > this.seq) return this.gap(msg.seq);
      return;
    }
    const m = msg.msg;
    if (!inSubtree(m.key, this.config.subtree)) {
      this.outside(m.key);
      return;
    }
    if (m.seq <= this.seq) {
      this.counts.stale += 1;
      return;
    }
    if (wholeMap && m.seq !== this.seq + 1n) return this.gap(m.seq);
    if (m.body.length > 0 && !this.map.has(m.key) && this.map.size >= this.config.maxKeys) {
      this.log.error({ key: m.key, maxKeys: this.config.maxKeys }, "update dropped: the map holds --max-keys keys");
      this.counts.invalid += 1;
      this.seq = m.seq;
      return;
    }
    this.seq = m.seq;
    this.counts.updates += 1;
    if (m.body.length === 0) this.map.delete(m.key);
    else this.map.set(m.key, { value: m.body, seq: m.seq, ttlS: msg.ttlS, uuid: m.uuid });
    this.hooks.onUpdate?.(m, msg.ttlS);
    return;
  }

  private gap(seq: bigint): SessionEnd {
    this.counts.gaps += 1;
    this.log.warn({ expected: String(this.seq + 1n), got: String(seq) }, "gap in sequence numbers: taking a new snapshot");
    return "gap";
  }

  private outside(key: string): void {
    this.counts.outside += 1;
    this.log.warn({ key: key.slice(0, 64), subtree: this.config.subtree }, "key outside our subtree dropped");
  }

  private invalid(socket: string, reason: string): void {
    this.counts.invalid += 1;
    this.log.warn({ socket, reason, total: this.counts.invalid }, "invalid message from the server dropped");
  }
}
