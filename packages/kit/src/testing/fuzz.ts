import { readdirSync, readFileSync } from "node:fs";
import { Dealer, Push, type Socket, XPublisher, XSubscriber } from "zeromq";
import { seededRandom } from "../random.ts";
import { waitUntil, withDeadline } from "./deadline.ts";
import type { RoleProcess } from "./process.ts";

/**
 * The socket the fuzzer connects with, chosen by the target's bound socket: "dealer" for ROUTER,
 * REP and DEALER targets (with `envelope` for REQ-shaped protocols), "push" for PULL, "pub" for SUB
 * (an XPUB, so it waits for the target's subscriptions), "xsub" for XPUB.
 */
export type FuzzPeer = "dealer" | "push" | "pub" | "xsub";

export interface FuzzOptions {
  endpoint: string;
  peer: FuzzPeer;
  /** How many messages; at least 1,000. */
  count?: number;
  seed?: number;
  /** The protocol's words (commands, headers, topics): mixed in so the fuzz gets past the first check. */
  words?: (string | Buffer)[];
  /** Field names of the protocol's MessagePack maps, given hostile values. */
  fields?: string[];
  /** Prefix most messages with an empty delimiter frame, as a REQ peer would. */
  envelope?: boolean;
  /**
   * The target socket's maximum message size (per frame, as libzmq checks it): a few messages go
   * just over it, and every other frame is cut to fit, so the fuzz is not lost with a dropped connection.
   */
  maxMessageBytes?: number;
  /** Bind the endpoint and wait for the target to connect (a role that only connects). */
  bind?: boolean;
  /**
   * Resolves when the target has worked through the fuzz; the connection stays open until then,
   * so a target that reads slowly still gets every message (closing would drop what is queued).
   */
  settled?: () => Promise<void>;
}

export interface FuzzReport {
  sent: number;
  /** Messages of each kind sent. */
  kinds: Record<string, number>;
}

/** Raw MessagePack, written by hand so the fuzzer can send what msgpackr would never produce. */
type Raw = { raw: Buffer };
type Value = null | boolean | number | string | Buffer | Raw | Value[] | { [k: string]: Value };
/** A map as a list of entries, so a key such as "__proto__" is sent as the key it is. */
type Entries = [string, Value][];

const u64 = (n: bigint): Raw => {
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(n, 1);
  return { raw: b };
};
const i64 = (n: bigint): Raw => {
  const b = Buffer.alloc(9);
  b[0] = 0xd3;
  b.writeBigInt64BE(n, 1);
  return { raw: b };
};

function mpMap(entries: Entries): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xdf;
  head.writeUInt32BE(entries.length, 1);
  return Buffer.concat([head, ...entries.flatMap(([k, x]) => [mp(k), mp(x)])]);
}

function mp(v: Value): Buffer {
  if (v === null) return Buffer.from([0xc0]);
  if (typeof v === "boolean") return Buffer.from([v ? 0xc3 : 0xc2]);
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= 0 && v < 128) return Buffer.from([v]);
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(v, 1);
    return b;
  }
  if (typeof v === "string") {
    const s = Buffer.from(v);
    const head = Buffer.alloc(5);
    head[0] = 0xdb;
    head.writeUInt32BE(s.length, 1);
    return Buffer.concat([head, s]);
  }
  if (Buffer.isBuffer(v)) {
    const head = Buffer.alloc(5);
    head[0] = 0xc6;
    head.writeUInt32BE(v.length, 1);
    return Buffer.concat([head, v]);
  }
  if ("raw" in v && Buffer.isBuffer((v as Raw).raw)) return (v as Raw).raw;
  const head = Buffer.alloc(5);
  if (Array.isArray(v)) {
    head[0] = 0xdd;
    head.writeUInt32BE(v.length, 1);
    return Buffer.concat([head, ...v.map(mp)]);
  }
  return mpMap(Object.entries(v));
}

/** Values that break validators: wrong types, 64-bit and huge numbers, bad sizes, paths, long text. */
const HOSTILE: Value[] = [
  null,
  true,
  "",
  "x",
  -1,
  -0.5,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e308,
  2 ** 40,
  2 ** 53 + 2,
  u64(2n ** 32n),
  u64(BigInt(Date.now())),
  u64(2n ** 53n + 1n),
  u64(2n ** 64n - 1n),
  i64(-(2n ** 63n)),
  i64(-1n),
  "../../../../etc/passwd",
  "/etc/passwd",
  "a/../../b",
  "..",
  ".",
  "nul\u0000byte",
  "C:\\Windows\\system32",
  "%2e%2e%2f",
  "x".repeat(100_000),
  Buffer.alloc(0),
  Buffer.alloc(64, 0xff),
  [],
  [1, 2, 3],
  {},
  { nested: { deeper: [null] } },
  { raw: Buffer.from([0xd6, 0xff, 0, 0, 0, 1]) },
  { raw: Buffer.from([0xd4, 0x72, 0x00]) },
];

const GARBAGE_HEADS = [
  [0xdd, 0xff, 0xff, 0xff, 0xff],
  [0xdf, 0x7f, 0xff, 0xff, 0xff],
  [0xc6, 0xff, 0xff, 0xff, 0xf0],
  [0xdb, 0x7f, 0xff, 0xff, 0xff],
  [0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01],
  [0xc1],
  [0x8f],
  [0x9f],
  [0xd8, 0x05],
];

class Generator {
  readonly kinds: Record<string, number> = {};
  private readonly rnd: () => number;

  constructor(
    private readonly options: FuzzOptions,
    seed: number,
  ) {
    this.rnd = seededRandom(seed);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }

  private bytes(max: number): Buffer {
    const b = Buffer.alloc(this.int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }

  private word(): Buffer {
    const words = this.options.words ?? [];
    if (words.length === 0 || this.rnd() < 0.2) return this.bytes(8);
    return Buffer.from(this.pick(words));
  }

  private hostileMap(): Buffer {
    const fields = this.options.fields ?? ["v", "id", "type", "size", "count", "name", "ts"];
    const entries: Entries = fields.filter(() => this.rnd() < 0.7).map((f) => [f, this.pick(HOSTILE)]);
    if (this.rnd() < 0.2) entries.push([this.pick(["__proto__", "constructor", "", "x".repeat(300)]), this.pick(HOSTILE)]);
    return mpMap(entries);
  }

  /** One message, and the name of its kind. */
  next(): Buffer[] {
    const kind = this.pick([
      "random-frames",
      "empty-frames",
      "words",
      "hostile-map",
      "hostile-map",
      "hostile-value",
      "truncated",
      "garbage-msgpack",
      "deep-nesting",
      "long-frame",
    ] as const);
    this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
    const body = this.body(kind);
    // A SUB target only sees messages whose first frame matches a subscription: lead with a topic.
    const wordFirst =
      this.options.peer === "pub" ? this.rnd() < 0.9 : kind !== "random-frames" && kind !== "empty-frames" && this.rnd() < 0.7;
    const withWord = wordFirst ? [this.word(), ...body] : body;
    return this.options.envelope && this.rnd() < 0.85 ? [Buffer.alloc(0), ...withWord] : withWord;
  }

  private body(kind: string): Buffer[] {
    switch (kind) {
      case "random-frames":
        return Array.from({ length: 1 + this.int(8) }, () => this.bytes(64));
      case "empty-frames":
        return Array.from({ length: 1 + this.int(5) }, () => Buffer.alloc(0));
      case "words":
        return Array.from({ length: 1 + this.int(6) }, () => (this.rnd() < 0.3 ? Buffer.alloc(0) : this.word()));
      case "hostile-map":
        return Array.from({ length: 1 + this.int(3) }, () => this.hostileMap());
      case "hostile-value":
        return [mp(this.pick(HOSTILE))];
      case "truncated": {
        const whole = this.hostileMap();
        return [whole.subarray(0, this.int(whole.length))];
      }
      case "garbage-msgpack":
        return [Buffer.concat([Buffer.from(this.pick(GARBAGE_HEADS)), this.bytes(32)])];
      case "deep-nesting":
        return [Buffer.concat([Buffer.alloc(5000, 0x91), Buffer.from([0xc0])])];
      default:
        return [Buffer.alloc(16_384 + this.int(65_536), 0x61)];
    }
  }
}

function peerSocket(peer: FuzzPeer, hwm: number): Socket & { send(m: Buffer[]): Promise<void> } {
  const options = { linger: 2000, sendHighWaterMark: hwm, sendTimeout: 5000 };
  switch (peer) {
    case "dealer":
      return new Dealer(options);
    case "push":
      return new Push(options);
    case "pub":
      // Every subscription passed up, also one for a topic a dropped connection still holds.
      return new XPublisher({ ...options, verbosity: "allSubs" });
    case "xsub":
      return new XSubscriber(options);
  }
}

/** A frame over the limit makes libzmq drop the connection, so only the deliberate ones are let through. */
function clamp(message: Buffer[], limit: number | undefined): Buffer[] {
  return limit === undefined ? message : message.map((f) => (f.length > limit ? f.subarray(0, limit) : f));
}

function overLimit(options: FuzzOptions, limit: number): Buffer[] {
  // A SUB target only takes what starts with one of its subscriptions.
  const lead = options.peer === "pub" ? Buffer.from(options.words?.[0] ?? "") : Buffer.alloc(0);
  return [Buffer.concat([lead, Buffer.alloc(limit + 1, 0x62)])];
}

/** Resolves on the socket's next event of this type, or rejects at the deadline naming it. */
function nextEvent(socket: Socket, type: "accept" | "connect", what: string, timeoutMs = 10_000): Promise<void> {
  return withDeadline(new Promise<void>((resolve) => socket.events.on(type, () => resolve())), timeoutMs, what);
}

/**
 * Sends `count` malformed and hostile messages to an endpoint, as the given peer socket, and waits
 * until ZeroMQ has handed them all to the connection. The target decides what it does with them;
 * check afterwards that it is alive and still serves (fuzzRole does both for a process).
 *
 * Every `maxMessageBytes` over-limit message goes on a connection of its own, because the target
 * drops the connection that sent it; with `bind` (for a target that connects) it goes on the one
 * connection there is, and the target must connect again within 10 s.
 */
export async function fuzzEndpoint(options: FuzzOptions): Promise<FuzzReport> {
  const count = Math.max(1000, options.count ?? 1000);
  const generator = new Generator(options, options.seed ?? 1);
  const limit = options.maxMessageBytes;
  const socket = peerSocket(options.peer, count * 2 + 100);
  try {
    if (options.bind) {
      const accepted = nextEvent(socket, "accept", `the target to connect to ${options.endpoint}`);
      await socket.bind(options.endpoint);
      await accepted;
    } else socket.connect(options.endpoint);
    if (options.peer === "pub") await firstSubscription(socket as XPublisher);
    let sent = 0;
    for (let i = 0; i < count; i++) {
      if (limit !== undefined && i % 300 === 150) {
        generator.kinds["over-limit"] = (generator.kinds["over-limit"] ?? 0) + 1;
        await sendOverLimit(options, limit, socket);
      } else await socket.send(clamp(generator.next(), limit));
      sent += 1;
    }
    await options.settled?.();
    return { sent, kinds: generator.kinds };
  } finally {
    socket.close();
  }
}

/**
 * Waits (up to 10 s) for a subscription from the target, or what is published before it is dropped.
 * Unsubscriptions are skipped: a dropped connection's come after it is gone.
 */
async function firstSubscription(xpub: XPublisher, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (let left = timeoutMs; left > 0; left = end - performance.now()) {
    xpub.receiveTimeout = Math.ceil(left);
    const notice = await xpub.receive().catch(() => undefined);
    if (!notice || notice[0]?.[0] === 1) return;
  }
}

/** Drops the (un)subscriptions already queued, so that the next one read is a new connection's. */
async function forgetSubscriptions(xpub: XPublisher): Promise<void> {
  xpub.receiveTimeout = 0;
  while (
    await xpub.receive().then(
      () => true,
      () => false,
    )
  );
}

async function sendOverLimit(options: FuzzOptions, limit: number, main: Socket & { send(m: Buffer[]): Promise<void> }) {
  if (options.bind) {
    const back = nextEvent(main, "accept", "the target to connect again after a message over its limit");
    if (options.peer === "pub") await forgetSubscriptions(main as XPublisher);
    await main.send(overLimit(options, limit));
    await back;
    if (options.peer === "pub") await firstSubscription(main as XPublisher);
    return;
  }
  const once = peerSocket(options.peer, 10);
  try {
    once.connect(options.endpoint);
    if (options.peer === "pub") await firstSubscription(once as XPublisher);
    await once.send(overLimit(options, limit));
  } finally {
    once.close();
  }
}

/** Resident memory of a process, in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 1024);
}

/** CPU time (user + system) of a process so far, in clock ticks, and whether any of its threads is runnable. */
function activity(pid: number): { ticks: number; runnable: boolean } {
  const fields = (stat: string) => stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  const own = fields(readFileSync(`/proc/${pid}/stat`, "utf8"));
  let runnable = false;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (fields(readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8"))[0] === "R") runnable = true;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return { ticks: Number(own[11]) + Number(own[12]), runnable };
}

/**
 * Waits until a process has worked through a backlog: for 400 ms in a row none of its threads is
 * runnable and its CPU time grows by at most one tick. A thread with work is runnable even while
 * other processes hold the cores, so a busy machine does not pass for an idle target.
 */
export async function quiescent(pid: number, timeoutMs = 30_000): Promise<void> {
  let since = performance.now();
  let ticks = activity(pid).ticks;
  await waitUntil(
    () => {
      const now = activity(pid);
      if (now.runnable || now.ticks - ticks > 1) {
        since = performance.now();
        ticks = now.ticks;
        return false;
      }
      return performance.now() - since >= 400;
    },
    { timeoutMs, what: `process ${pid} to go idle after the fuzz`, everyMs: 20 },
  );
}

export interface FuzzRoleOptions extends FuzzOptions {
  /** The RSS the process may reach during and after the fuzz. */
  maxRssMiB: number;
  /** A valid request (and its check) that the process must still serve after the fuzz. */
  probe: () => Promise<unknown>;
}

export interface FuzzRoleReport extends FuzzReport {
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

/**
 * The fuzz test of one bound socket of a role running as a real process: send the fuzz, wait until
 * the process has worked through it, then require that it is still running, still answers a valid
 * request, and stayed within its memory bound. Throws, naming what failed, with the process's log.
 */
export async function fuzzRole(role: RoleProcess, options: FuzzRoleOptions): Promise<FuzzRoleReport> {
  const pid = role.pid;
  if (pid === undefined || !role.running) throw new Error(`${role.name} is not running before the fuzz`);
  const rssBeforeMiB = rssMiB(pid);
  const settle = () =>
    quiescent(pid).catch(() => {
      // A process that never goes idle is judged by the checks that follow; one that died, by its exit.
    });
  const report = await fuzzEndpoint({ ...options, settled: settle });
  const fail = (what: string) => new Error(`${role.name} after ${report.sent} fuzz messages: ${what}\n${role.tail(20)}`);
  if (!role.running) throw fail("the process died");
  await settle();
  if (!role.running) throw fail("the process died");
  await options.probe().catch((err: Error) => {
    throw fail(`it no longer serves a valid request (${err.message})`);
  });
  if (!role.running) throw fail("the process died");
  const rssAfterMiB = rssMiB(pid);
  if (rssAfterMiB > options.maxRssMiB) throw fail(`RSS ${rssAfterMiB} MiB is over its bound of ${options.maxRssMiB} MiB`);
  return { ...report, rssBeforeMiB, rssAfterMiB };
}
