// Time to converge against cluster size, and messages per update: N gossip nodes (4, 8, 16) over
// real ZeroMQ sockets on loopback, in one process (16 node processes would be 16 tsx runtimes on 2
// cores), joined through a seed list. For each size, rounds of:
//   - a burst: one write on every node at once; ms until every digest is identical (PUB-SUB
//     delivery, anti-entropy repairing anything dropped);
//   - a late joiner: a node with an empty store joins a cluster holding 200 keys; ms until its
//     digest equals the others' (anti-entropy alone: PUB-SUB never replays the past);
// and the messages each update cost: bus publishes, bus deliveries (one per SUB connected), DELTA
// entries sent; the background (pings, digests) per node per second is counted apart.
// Usage: pnpm --filter lab23 bench [-- --sizes 4,8,16 --rounds 3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@zlabs/kit";
import { waitUntil } from "@zlabs/kit/testing";
import { GossipNode, type GossipNodeConfig, INDIRECT_PROBES, RETRANSMIT } from "../internal/gossip-node.ts";
import type { NodeCore } from "../internal/node-core.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const SIZES = arg("sizes", "4,8,16").split(",").map(Number);
const ROUNDS = Number(arg("rounds", "3"));
const PACE = { probeMs: 200, ackTimeoutMs: 80, suspectMs: 1000, antiEntropyMs: 200, syncMs: 1000 };
const log = createLogger({ lab: "lab23", role: "bench", level: "error" });
const store = mkdtempSync(join(tmpdir(), "lab23-bench-"));

interface Running {
  node: GossipNode;
  stop: AbortController;
  done: Promise<void>;
}

const coreOf = (r: Running) => (r.node as unknown as { core: NodeCore }).core;

function config(id: string, rank: number, seeds: string[], mailboxPort: number): GossipNodeConfig {
  return {
    id,
    rank,
    host: "127.0.0.1",
    pubPort: 0,
    mailboxPort,
    beaconPort: 0,
    beaconMs: 1000,
    seeds,
    ...PACE,
    deadRetainMs: 30_000,
    indirect: INDIRECT_PROBES,
    retransmit: RETRANSMIT,
    joinMs: 300,
    outlierMs: 500,
    tombstoneMs: 3_600_000,
    skewMs: 0,
    storeDir: store,
  };
}

function start(id: string, rank: number, seed: string | undefined): Running {
  const node = new GossipNode(config(id, rank, seed ? [seed] : [], 0), log);
  const stop = new AbortController();
  return { node, stop, done: node.run(stop.signal) };
}

const mailboxOf = (r: Running) => coreOf(r).config.mailbox;
const digests = (rs: Running[]) => new Set(rs.map((r) => coreOf(r).map.digest()));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(n: number, round: number) {
  const tag = `b${n}r${round}`;
  const first = start(`${tag}-1`, 1, undefined);
  await waitUntil(() => coreOf(first) !== undefined, { timeoutMs: 10_000, what: "the first node" });
  const seed = mailboxOf(first);
  const nodes = [first, ...Array.from({ length: n - 1 }, (_, i) => start(`${tag}-${i + 2}`, i + 2, seed))];
  await waitUntil(() => nodes.every((r) => coreOf(r)?.membership.live().length === n - 1), {
    timeoutMs: 60_000,
    what: `${n} nodes to see each other`,
    everyMs: 20,
  });
  const sum = (f: (c: NodeCore) => number) => nodes.reduce((s, r) => s + f(coreOf(r)), 0);
  // Background: pings and digests, per node per second, over a quiet second.
  const digests0 = sum((c) => c.stats.digestsSent);
  await new Promise((r) => setTimeout(r, 1000));
  const digestsPerNodeSec = (sum((c) => c.stats.digestsSent) - digests0) / n;

  // Burst: one write on every node at once.
  const before = {
    published: sum((c) => c.stats.published),
    bus: sum((c) => c.stats.busApplied),
    delta: sum((c) => c.stats.deltaEntriesSent),
  };
  const t0 = performance.now();
  for (const [i, r] of nodes.entries()) coreOf(r).write(`burst-${i}`, `v${round}`);
  await waitUntil(() => digests(nodes).size === 1 && coreOf(first).map.size >= n, {
    timeoutMs: 60_000,
    what: "the burst to converge",
    everyMs: 1,
  });
  const burstMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2 * PACE.antiEntropyMs));
  const published = sum((c) => c.stats.published) - before.published;
  const busApplied = sum((c) => c.stats.busApplied) - before.bus;
  const deltaEntries = sum((c) => c.stats.deltaEntriesSent) - before.delta;

  // Late joiner: 200 keys held, a node with an empty store joins.
  for (let k = 0; k < 200; k++) coreOf(nodes[k % n] as Running).write(`key-${k}`, `value-${k}`);
  await waitUntil(() => digests(nodes).size === 1, { timeoutMs: 60_000, what: "200 keys everywhere", everyMs: 5 });
  const t1 = performance.now();
  const late = start(`${tag}-late`, 999, seed);
  await waitUntil(() => coreOf(late) !== undefined && digests([...nodes, late]).size === 1, {
    timeoutMs: 60_000,
    what: "the late joiner",
    everyMs: 5,
  });
  const lateMs = performance.now() - t1;

  for (const r of [...nodes, late]) r.stop.abort();
  await Promise.all([...nodes, late].map((r) => r.done));
  return { burstMs, lateMs, published: published / n, deliveries: busApplied / n, deltaEntries: deltaEntries / n, digestsPerNodeSec };
}

console.log(`lab23 bench: sizes ${SIZES.join(", ")}, ${ROUNDS} rounds each (interleaved), pace ${JSON.stringify(PACE)}`);
const results = new Map<number, Awaited<ReturnType<typeof measure>>[]>();
for (let round = 1; round <= ROUNDS; round++)
  for (const n of SIZES) {
    const r = await measure(n, round);
    console.log(
      `  n=${n} round ${round}: burst ${r.burstMs.toFixed(1)} ms, late joiner ${r.lateMs.toFixed(0)} ms, per update: ${r.published} publish, ${r.deliveries.toFixed(1)} deliveries, ${r.deltaEntries.toFixed(2)} delta entries`,
    );
    results.set(n, [...(results.get(n) ?? []), r]);
  }
console.log(
  "\n| Nodes | burst of N writes: all digests equal (ms, median) | late joiner, 200 keys: caught up (ms, median) | bus publishes / update | bus deliveries / update | DELTA entries / update | digests / node / s (background) |",
);
console.log("| ----- | ----- | ----- | ----- | ----- | ----- | ----- |");
for (const n of SIZES) {
  const rs = results.get(n) ?? [];
  const m = (f: (r: (typeof rs)[number]) => number) => median(rs.map(f));
  console.log(
    `| ${n} | ${m((r) => r.burstMs).toFixed(1)} | ${m((r) => r.lateMs).toFixed(0)} | ${m((r) => r.published).toFixed(2)} | ${m((r) => r.deliveries).toFixed(2)} | ${m((r) => r.deltaEntries).toFixed(2)} | ${m((r) => r.digestsPerNodeSec).toFixed(1)} |`,
  );
}
rmSync(store, { recursive: true, force: true });
