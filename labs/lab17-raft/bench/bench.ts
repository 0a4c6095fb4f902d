// lab17 bench: committed writes a second through five real consensus nodes with 100 requests in
// flight, with batching (up to 64 entries per AppendEntries) and without (one entry each), side by
// side and interleaved; then the time from SIGKILL of the leader to a new leader, 20 times.
//
//   pnpm --filter lab17 bench [-- --seconds 5 --inflight 100 --rounds 2 --kills 20]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freeTcpEndpoints, ProcessPool, type RoleProcess, testLogger, waitUntil } from "@zlabs/kit/testing";
import { RaftClient } from "../internal/client.ts";
import { ELECTION_MAX_MS, ELECTION_MIN_MS, HEARTBEAT_MS } from "../internal/raft.ts";
import { nodeArgs } from "../test/cluster.ts";

const { values } = parseArgs({
  // pnpm passes the "--" of `pnpm --filter lab17 bench -- --kills 5` on.
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    seconds: { type: "string", default: "5" },
    inflight: { type: "string", default: "100" },
    rounds: { type: "string", default: "2" },
    kills: { type: "string", default: "20" },
  },
});
const SECONDS = Number(values.seconds);
const INFLIGHT = Number(values.inflight);
const ROUNDS = Number(values.rounds);
const KILLS = Number(values.kills);
const labDir = fileURLToPath(new URL("..", import.meta.url));
const SIZE = 5;

interface Cluster {
  procs: ProcessPool;
  nodes: RoleProcess[];
  client: RaftClient;
  stop: AbortController;
  dir: string;
  start(i: number): RoleProcess;
}

async function cluster(maxBatch: number, logLevel: string): Promise<Cluster> {
  const endpoints = await freeTcpEndpoints(2 * SIZE);
  const ids = Array.from({ length: SIZE }, (_, i) => `n${i + 1}`);
  const spec = ids.map((id, i) => `${id}=${endpoints[i]}`).join(",");
  const dir = mkdtempSync(join(tmpdir(), "lab17-bench-"));
  const procs = new ProcessPool();
  const nodes: RoleProcess[] = [];
  const start = (i: number) => {
    const id = ids[i] as string;
    nodes[i] = procs.start({
      labDir,
      cmd: "cmd/consensus-node.ts",
      name: id,
      args: nodeArgs(id, spec, endpoints[SIZE + i] as string, dir, ["--max-batch", String(maxBatch)]),
      env: { LOG_LEVEL: logLevel },
    });
    return nodes[i] as RoleProcess;
  };
  for (let i = 0; i < SIZE; i++) start(i);
  const stop = new AbortController();
  const client = new RaftClient(endpoints.slice(SIZE), testLogger("lab17"), 2000, 100);
  void client.run(stop.signal);
  const c = { procs, nodes, client, stop, dir, start };
  try {
    // Up when every node answers a status request (at LOG_LEVEL=warn there is no "listening" line).
    await waitUntil(async () => (await Promise.all(nodes.map((_, i) => client.status(i)))).every(Boolean), {
      timeoutMs: 60_000,
      what: "every node to answer",
      everyMs: 200,
    });
  } catch (err) {
    await close(c);
    throw err;
  }
  return c;
}

async function close(c: Cluster): Promise<void> {
  c.stop.abort();
  c.client.close();
  await c.procs.stopAll();
  rmSync(c.dir, { recursive: true, force: true });
}

/** Writes from INFLIGHT sessions for SECONDS after a warm-up; committed writes a second. */
async function throughput(maxBatch: number): Promise<number> {
  const c = await cluster(maxBatch, "warn");
  try {
    let seq = 0;
    // Warm-up: until a leader answers.
    await c.client.call({ op: "put", key: "warm", value: "up" }, { client: "warm", seq: 1 });
    let done = 0;
    let counting = false;
    let running = true;
    const session = async (n: number) => {
      let s = 0;
      while (running) {
        s += 1;
        seq += 1;
        const outcome = await c.client.call({ op: "put", key: `policy/${n % 50}`, value: `v${seq}` }, { client: `bench-${n}`, seq: s });
        if (outcome && counting && running) done += 1;
      }
    };
    const sessions = Array.from({ length: INFLIGHT }, (_, n) => session(n));
    await new Promise((r) => setTimeout(r, 1000));
    counting = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const rate = (done * 1000) / (performance.now() - t0);
    running = false;
    await Promise.all(sessions);
    return rate;
  } finally {
    await close(c);
  }
}

/** ms from SIGKILL of the leader to another node's "leader elected", KILLS times. */
async function elections(): Promise<number[]> {
  const c = await cluster(64, "info");
  const times: number[] = [];
  try {
    let term = 0;
    for (let k = 0; k < KILLS; k++) {
      const leader = await waitUntil(
        () => {
          for (const [i, n] of c.nodes.entries())
            if (n.running) for (const e of n.find("leader elected")) if ((e.term as number) > term) return { i, term: e.term as number };
          return undefined;
        },
        { timeoutMs: 30_000, what: "a leader" },
      );
      term = leader.term;
      // A committed write in the leader's term, so every node's log is current before the kill.
      await c.client.call({ op: "put", key: "k", value: `${k}` }, { client: "elections", seq: k + 1 });
      const t0 = performance.now();
      await c.procs.crash(c.nodes[leader.i] as RoleProcess);
      const next = await waitUntil(
        () => {
          for (const n of c.nodes)
            if (n.running) for (const e of n.find("leader elected")) if ((e.term as number) > term) return e.term as number;
          return undefined;
        },
        { timeoutMs: 30_000, what: "a new leader", everyMs: 5 },
      );
      times.push(performance.now() - t0);
      term = next - 1;
      const back = c.start(leader.i);
      await back.waitForLog("following", 30_000);
    }
  } finally {
    await close(c);
  }
  return times;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const batched: number[] = [];
const single: number[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  batched.push(await throughput(64));
  console.log(`round ${r}: batching (64 entries per AppendEntries): ${Math.round(batched.at(-1) as number)} writes/s`);
  single.push(await throughput(1));
  console.log(`round ${r}: no batching (1 entry per AppendEntries):  ${Math.round(single.at(-1) as number)} writes/s`);
}
const times = KILLS > 0 ? await elections() : [];
console.log(`\n5 nodes, ${INFLIGHT} requests in flight, ${SECONDS} s per run, ${ROUNDS} runs each (median):`);
console.log(`| AppendEntries | committed writes/s | runs |`);
console.log(`| batching, up to 64 entries | ${Math.round(median(batched))} | ${batched.map(Math.round).join(", ")} |`);
console.log(`| one entry each | ${Math.round(median(single))} | ${single.map(Math.round).join(", ")} |`);
console.log(`ratio ${(median(batched) / median(single)).toFixed(2)}x`);
if (times.length > 0)
  console.log(
    `\nnew leader after SIGKILL of the leader (election timeout ${ELECTION_MIN_MS}-${ELECTION_MAX_MS} ms, heartbeat ${HEARTBEAT_MS} ms), ${times.length} kills: median ${Math.round(median(times))} ms, max ${Math.round(Math.max(...times))} ms, min ${Math.round(Math.min(...times))} ms`,
  );
if (times.length > 0) console.log(`all: ${times.map(Math.round).join(", ")}`);
