/**
 * lab13 benchmark: durable titanic.request calls per second with 100 clients in flight, and fsyncs
 * per request, with group commit (one fsync covers every request that arrived during the previous
 * one) against one write + fsync per request, side by side in one run.
 *
 * The Majordomo broker (lab12's, cmd/majordomo-broker.ts) runs as its own process; Titanic and the
 * 100 clients (lab12's MdpClient, one request at a time each) run in this process, so the journal's
 * counters are read directly. A request counts when its "200 + uuid" came back: by then it is on
 * disk. Every case runs `--rounds` times; the table shows medians.
 *
 *   pnpm --filter lab13 bench [-- --seconds 5 --clients 100 --rounds 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, intOption, parseConfig } from "@zlabs/kit";
import { freeTcpEndpoint, ProcessPool } from "@zlabs/kit/testing";
import { MdpClient } from "lab12/client";
import { decodeTspReply, TITANIC_REQUEST } from "../internal/protocol.ts";
import { STORAGE_SERVICE } from "../internal/storage-service.ts";
import { TitanicBroker } from "../internal/titanic-broker.ts";

const config = parseConfig({
  lab: "lab13",
  role: "bench",
  describe: "durable Titanic requests/s with group commit against one fsync per request",
  options: {
    seconds: intOption(5, "seconds per timed run", { min: 1, max: 600 }),
    clients: intOption(100, "clients, each with one request in flight", { min: 1, max: 1000 }),
    workers: intOption(32, "Titanic's titanic.request workers (requests it stores at once)", { min: 1, max: 256 }),
    bytes: intOption(1024, "request body bytes", { min: 1, max: 1024 * 1024 }),
    rounds: intOption(3, "runs of each case (the table shows medians)", { min: 1, max: 20 }),
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));
const log = createLogger({ lab: "lab13", role: "bench", level: "warn" });
const HEARTBEAT = ["--heartbeat", "10000", "--liveness", "5"];

interface Result {
  perSecond: number;
  fsyncsPerRequest: number;
  recordsPerBatch: number;
  p50Ms: number;
  p99Ms: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function run(broker: string, groupCommit: boolean): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "lab13-bench-"));
  const titanic = new TitanicBroker(
    {
      broker,
      dir,
      groupCommit,
      compactMinBytes: 1 << 30,
      requestWorkers: config.workers,
      replyWorkers: 1,
      closeWorkers: 1,
      dispatchers: 1,
      scanMs: 60_000,
      dispatchTimeoutMs: 1000,
      dispatchRetries: 1,
      heartbeatMs: 10_000,
      liveness: 5,
      reconnectMs: 500,
      storageRetryMs: 1000,
      maxOpen: 10_000_000,
    },
    log,
  );
  const stop = new AbortController();
  const running = titanic.run(stop.signal);
  try {
    return await measure(titanic, broker);
  } finally {
    stop.abort();
    await running;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(titanic: TitanicBroker, broker: string): Promise<Result> {
  const clients = Array.from({ length: config.clients }, () => new MdpClient({ broker, timeoutMs: 10_000, retries: 1 }, log));
  const body = [Buffer.from(STORAGE_SERVICE), Buffer.from("artefact.bin"), Buffer.alloc(config.bytes, 7)];
  const call = async (client: MdpClient) => {
    const reply = decodeTspReply(await client.request(TITANIC_REQUEST, body));
    if (reply.kind !== "ok") throw new Error(`titanic.request answered ${reply.kind}`);
  };
  // Warm up: every worker registered and every client connected.
  const warmEnd = performance.now() + 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < warmEnd) await call(c);
    }),
  );
  const before = { ...(titanic.store.stats ?? { fsyncs: 0, appended: 0, batches: 0 }) };
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + config.seconds * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        await call(c);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const after = titanic.store.stats ?? before;
  for (const c of clients) c.close();
  const appended = after.appended - before.appended;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / elapsed,
    fsyncsPerRequest: (after.fsyncs - before.fsyncs) / appended,
    recordsPerBatch: appended / (after.batches - before.batches),
    p50Ms: latencies[Math.floor(latencies.length / 2)] as number,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] as number,
  };
}

const procs = new ProcessPool();
try {
  const broker = await freeTcpEndpoint();
  const bp = procs.start({
    labDir,
    cmd: "cmd/majordomo-broker.ts",
    name: "broker",
    args: ["--endpoint", broker, ...HEARTBEAT],
    env: { LOG_LEVEL: "warn" },
  });
  await new Promise((r) => setTimeout(r, 300));
  if (!bp.running) throw new Error(`the broker did not start\n${bp.tail()}`);
  const cases = [
    { name: "group commit", groupCommit: true },
    { name: "one fsync per request", groupCommit: false },
  ];
  const results = new Map<string, Result[]>(cases.map((c) => [c.name, []]));
  for (let round = 1; round <= config.rounds; round++) {
    for (const c of cases) {
      const r = await run(broker, c.groupCommit);
      results.get(c.name)?.push(r);
      process.stderr.write(`round ${round} ${c.name}: ${Math.round(r.perSecond)} req/s, ${r.fsyncsPerRequest.toFixed(3)} fsyncs/request\n`);
    }
  }
  const rows = cases.map((c) => {
    const rs = results.get(c.name) as Result[];
    return {
      name: c.name,
      perSecond: median(rs.map((r) => r.perSecond)),
      fsyncs: median(rs.map((r) => r.fsyncsPerRequest)),
      batch: median(rs.map((r) => r.recordsPerBatch)),
      p50: median(rs.map((r) => r.p50Ms)),
      p99: median(rs.map((r) => r.p99Ms)),
    };
  });
  const [group, single] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(
    `\nlab13 bench: ${config.clients} clients in flight, ${config.bytes}-byte bodies, ${config.workers} titanic.request workers, ${config.seconds} s x ${config.rounds} rounds (medians)\n`,
  );
  console.log("| journal                 | durable req/s | fsyncs/request | requests/fsync | p50 ms | p99 ms |");
  console.log("| ----------------------- | ------------: | -------------: | -------------: | -----: | -----: |");
  for (const r of rows)
    console.log(
      `| ${r.name.padEnd(23)} | ${Math.round(r.perSecond).toString().padStart(13)} | ${r.fsyncs.toFixed(3).padStart(14)} | ${r.batch.toFixed(1).padStart(14)} | ${r.p50.toFixed(1).padStart(6)} | ${r.p99.toFixed(1).padStart(6)} |`,
    );
  console.log(
    `\ngroup commit: ${(group.perSecond / single.perSecond).toFixed(2)}x the requests/s of one fsync per request; fsyncs/request ${group.fsyncs.toFixed(3)} (target < 0.2): ${group.fsyncs < 0.2 ? "met" : "NOT met"}`,
  );
} finally {
  await procs.stopAll();
}
