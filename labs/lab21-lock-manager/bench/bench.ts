// Lock server throughput and hand-over latency: `pnpm --filter lab21 bench [-- --seconds 5 --rounds 3]`.
//
// The lock server runs as its real process (cmd/lock-server.ts, LOG_LEVEL=warn); the clients are raw
// DEALERs in this process, speaking the protocol with nothing else to do. Three cases, each run
// `rounds` times (medians shown):
//   - one lock, one client: acquire and release in a loop (one round trip each, nobody waits);
//   - one lock, 10 contending clients: each acquires, releases as soon as it holds, and again; all but
//     one are in line at any time, so every cycle is a hand-over (RELEASE → asynchronous GRANTED);
//     the hand-over latency is from the holder sending RELEASE to the next waiter receiving GRANTED;
//   - 1,000 locks: 10 clients with 100 locks each, every client acquiring its 100 at once (pipelined),
//     then releasing them, and again: 1,000 locks held at the peak.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { intOption, parseConfig, peerLimits } from "@zlabs/kit";
import { freeTcpEndpoint, ProcessPool } from "@zlabs/kit/testing";
import { Dealer } from "zeromq";
import { decodeReply, encodeRequest, type LockReply } from "../internal/protocol.ts";

const config = parseConfig({
  lab: "lab21",
  role: "bench",
  describe: "acquire/release cycles per second and hand-over latency through the lock server",
  options: {
    seconds: intOption(5, "seconds per timed run", { min: 1 }),
    rounds: intOption(3, "runs of each case (medians shown)", { min: 1 }),
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));
const TTL_MS = 10_000;

/** A bench client: one DEALER, replies matched by req id, asynchronous GRANTED matched by lock. */
class BenchClient {
  private readonly dealer = new Dealer({ linger: 0, ...peerLimits() });
  private req = 1;
  private readonly pending = new Map<number, (r: LockReply) => void>();
  private readonly grants = new Map<string, (r: LockReply) => void>();
  private readonly loop: Promise<void>;

  constructor(
    endpoint: string,
    readonly id: string,
  ) {
    this.dealer.connect(endpoint);
    this.loop = this.receive();
  }

  private async receive(): Promise<void> {
    while (!this.dealer.closed) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch {
        return;
      }
      const r = decodeReply(frames[0]);
      if (!r.ok) throw new Error(r.reason);
      if (r.value.async) this.grants.get(r.value.lock ?? "")?.(r.value);
      else this.pending.get(r.value.req)?.(r.value);
    }
  }

  private sends: Promise<void> = Promise.resolve();

  ask(op: "ACQUIRE" | "RELEASE", lock: string): Promise<LockReply> {
    const req = this.req++;
    const answered = new Promise<LockReply>((resolve) => this.pending.set(req, resolve));
    const body = encodeRequest({ op, req, client: this.id, lock, ...(op === "ACQUIRE" ? { ttl: TTL_MS } : {}) });
    this.sends = this.sends.then(() => this.dealer.send(body));
    return answered.finally(() => this.pending.delete(req));
  }

  /** ACQUIRE, and when QUEUED the asynchronous GRANTED; resolves when held. */
  async acquire(lock: string): Promise<void> {
    const granted = new Promise<LockReply>((resolve) => this.grants.set(lock, resolve));
    const reply = await this.ask("ACQUIRE", lock);
    if (reply.status === "QUEUED") await granted;
    else if (reply.status !== "GRANTED") throw new Error(`${this.id}: ${lock} ${reply.status} ${reply.reason ?? ""}`);
    this.grants.delete(lock);
  }

  async close(): Promise<void> {
    this.dealer.close();
    await this.loop;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] as number;

async function oneLock(endpoint: string, clients: number, round: number): Promise<{ rate: number; handovers: number[] }> {
  const cs = Array.from({ length: clients }, (_, i) => new BenchClient(endpoint, `c${round}-${clients}-${i}`));
  const lock = `one-${round}-${clients}`;
  const end = performance.now() + config.seconds * 1000;
  let cycles = 0;
  let releasedAt = 0;
  const handovers: number[] = [];
  const started = performance.now();
  await Promise.all(
    cs.map(async (c) => {
      while (performance.now() < end) {
        await c.acquire(lock);
        if (releasedAt > 0) handovers.push(performance.now() - releasedAt);
        releasedAt = performance.now();
        await c.ask("RELEASE", lock);
        cycles += 1;
      }
    }),
  );
  const rate = cycles / ((performance.now() - started) / 1000);
  await Promise.all(cs.map((c) => c.close()));
  // With one client nobody waits: there is no hand-over to time.
  return { rate, handovers: clients > 1 ? handovers : [] };
}

async function manyLocks(endpoint: string, round: number): Promise<number> {
  const cs = Array.from({ length: 10 }, (_, i) => new BenchClient(endpoint, `m${round}-${i}`));
  const end = performance.now() + config.seconds * 1000;
  let cycles = 0;
  const started = performance.now();
  await Promise.all(
    cs.map(async (c, i) => {
      const locks = Array.from({ length: 100 }, (_, k) => `lock-${i * 100 + k}`);
      while (performance.now() < end) {
        await Promise.all(locks.map((l) => c.acquire(l)));
        await Promise.all(locks.map((l) => c.ask("RELEASE", l)));
        cycles += locks.length;
      }
    }),
  );
  const rate = cycles / ((performance.now() - started) / 1000);
  await Promise.all(cs.map((c) => c.close()));
  return rate;
}

const procs = new ProcessPool();
try {
  const endpoint = await freeTcpEndpoint();
  procs.start({
    labDir,
    cmd: "cmd/lock-server.ts",
    name: "lock-server",
    args: [
      "--endpoint",
      endpoint,
      "--data-dir",
      mkdtempSync(join(tmpdir(), "lab21-bench-")),
      "--max-ttl",
      String(TTL_MS),
      "--heartbeat",
      "60000",
    ],
    env: { LOG_LEVEL: "warn" },
  });
  // The server logs nothing at warn: the first lock granted says it is up (the DEALER waits for it).
  const probe = new BenchClient(endpoint, "probe");
  await probe.acquire("probe");
  await probe.close();

  const single: number[] = [];
  const contended: number[] = [];
  const many: number[] = [];
  const handovers: number[] = [];
  for (let round = 0; round < config.rounds; round++) {
    single.push((await oneLock(endpoint, 1, round)).rate);
    const c = await oneLock(endpoint, 10, round);
    contended.push(c.rate);
    handovers.push(...c.handovers);
    many.push(await manyLocks(endpoint, round));
    console.log(
      `round ${round + 1}: 1 lock/1 client ${single.at(-1)?.toFixed(0)}/s · 1 lock/10 clients ${contended.at(-1)?.toFixed(0)}/s · 1,000 locks/10 clients ${many.at(-1)?.toFixed(0)}/s`,
    );
  }
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(
    `\n${config.seconds} s per run, ${config.rounds} rounds, medians; the server at LOG_LEVEL=warn, fsync of the token block every 1,000 grants`,
  );
  console.log("| case | acquire/release cycles per second |");
  console.log("| --- | --- |");
  console.log(`| 1 lock, 1 client (no contention) | ${fmt(median(single))} |`);
  console.log(`| 1 lock, 10 contending clients (every cycle a hand-over) | ${fmt(median(contended))} |`);
  console.log(`| 1,000 locks, 10 clients × 100 locks pipelined | ${fmt(median(many))} |`);
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(
    `\nhand-over latency (RELEASE sent by the holder → GRANTED received by the next waiter), ${fmt(handovers.length)} hand-overs: p50 ${ms(quantile(handovers, 0.5))} · p99 ${ms(quantile(handovers, 0.99))} · max ${ms(Math.max(...handovers))}`,
  );
} finally {
  await procs.stopAll();
}
