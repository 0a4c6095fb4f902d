// pnpm --filter lab14 bench [-- --keys 6000 --inflight 64]
// Puts and gets per second through a 6-node ring (R = 3, real processes, one client in this
// process with requests in flight spread over every node), then the keys moved when a seventh
// node joins, against what the ring says should move.
import { parseArgs } from "node:util";
import { loggedAt, ProcessPool } from "@zlabs/kit/testing";
import { REPLICATION, Ring } from "../internal/ring.ts";
import { client, freeUdpPort, type RingNodeProcess, startNode, startRing, waitForView } from "../test/helpers.ts";

const { values } = parseArgs({ options: { keys: { type: "string", default: "6000" }, inflight: { type: "string", default: "64" } } });
const args = { keys: Number(values.keys), inflight: Number(values.inflight) };

process.env.TEST_LOG_LEVEL = "info";
const procs = new ProcessPool();
const SETTINGS = ["--peer-expiry", "5000", "--grace", "10000"];

async function timed(count: number, inflight: number, op: (i: number) => Promise<boolean>): Promise<{ perSecond: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < count) if (!(await op(next++))) failed += 1;
    }),
  );
  return { perSecond: (count * 1000) / (performance.now() - t0), failed };
}

const took = (n: RingNodeProcess, from = 0) => n.proc.find("took keys", from).reduce((sum, e) => sum + (e.keys as number), 0);

async function main(): Promise<void> {
  const K = args.keys;
  const port = await freeUdpPort();
  // The default 5 s expiry: on a loaded machine the tests' 1.5 s can expire a live peer for a moment.
  const ring = await startRing(procs, port, 6, "n", SETTINGS);
  const c = client(ring, 3);
  const key = (i: number) => `bench:${i}`;
  const puts = await timed(
    K,
    args.inflight,
    async (i) => (await c.call({ op: "PUT", key: key(i), value: Buffer.from(`value ${i}`), hops: 0 }))?.status === "ok",
  );
  const gets = await timed(
    K,
    args.inflight,
    async (i) => (await c.call({ op: "GET", key: key(i), hops: 0 }))?.value?.toString() === `value ${i}`,
  );
  c.close();

  const marks = ring.map((n) => n.proc.logs.length);
  const newcomer = await startNode(procs, port, "n7", SETTINGS);
  await Promise.all([...ring.map((n, i) => waitForView(n, 7, marks[i])), waitForView(newcomer, 7)]);
  const keys = Array.from({ length: K }, (_, i) => key(i));
  const before = new Ring(ring.map((n) => n.id));
  const after = new Ring([...ring.map((n) => n.id), newcomer.id]);
  const expectedCopies = keys.filter((k) => after.ownersOf(k).includes(newcomer.id)).length;
  const expectedPrimaries = keys.filter((k) => before.primaryOf(k) !== after.primaryOf(k)).length;
  // Until no node has taken a key for 2 s.
  let last = -1;
  let quietSince = performance.now();
  for (;;) {
    const total = took(newcomer) + ring.reduce((sum, n, i) => sum + took(n, marks[i]), 0);
    if (total !== last) {
      last = total;
      quietSince = performance.now();
    } else if (performance.now() - quietSince > 2000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const tookLines = [newcomer, ...ring].flatMap((n) => n.proc.find("took keys"));
  const handOffMs = Math.max(...tookLines.map(loggedAt)) - loggedAt(newcomer.proc.find("node up")[0] ?? {});
  const byNewcomer = took(newcomer);
  const byOld = ring.reduce((sum, n, i) => sum + took(n, marks[i]), 0);
  await procs.stopAll();

  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(`\n6 nodes, R=${REPLICATION}, ${fmt(K)} keys, ${args.inflight} requests in flight from one client spread over every node\n`);
  console.log("| Measure | Value |");
  console.log("| --- | --- |");
  console.log(`| PUT/s (each written on ${REPLICATION} nodes before the reply) | ${fmt(puts.perSecond)} (${puts.failed} failed) |`);
  console.log(`| GET/s | ${fmt(gets.perSecond)} (${gets.failed} failed) |`);
  console.log(`| keys the seventh node took | ${fmt(byNewcomer)} (ring: ${fmt(expectedCopies)}; R·K/7 = ${fmt((REPLICATION * K) / 7)}) |`);
  console.log(`| keys whose primary moved | ${fmt(expectedPrimaries)} (K/7 = ${fmt(K / 7)}) |`);
  console.log(`| keys the six old nodes took | ${fmt(byOld)} |`);
  console.log(`| from the seventh node's start to the last key taken | ${(handOffMs / 1000).toFixed(1)} s |`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => procs.stopAll());
