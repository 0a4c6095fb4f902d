// pnpm --filter lab20 bench: the chain's request latency (p50, p99) and throughput with tracing off,
// on with the collector up, and on with the collector stalled (SIGSTOP), side by side in one run.
// Each mode is its own set of processes (collector + gateway + enricher + scorer); the client is
// this process, a closed loop with CONCURRENCY requests in flight (the chain saturated: every CPU
// microsecond tracing spends shows). Every trace is sampled (--sample 1), the worst case for tracing,
// except in one row at --sample 0.1. The modes are run in ROUNDS interleaved rounds; the table gives the
// median of the rounds.
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, testLogger } from "@zlabs/kit/testing";
import { ChainClient, percentile } from "../internal/load-client.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const CONCURRENCY = Number(process.env.BENCH20_CONCURRENCY ?? 16);
const MEASURE_MS = Number(process.env.BENCH20_MS ?? 4000);
const WARMUP_MS = 1000;
const ROUNDS = Number(process.env.BENCH20_ROUNDS ?? 3);
const TX = { card: "4111-0001", merchant: "grocer", amount: 42 };

type Mode = "off" | "on" | "on10" | "stalled";
interface Result {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  dropped: number;
}

async function run(mode: Mode): Promise<Result> {
  const procs = new ProcessPool();
  const [collector, gateway, enricher, scorer] = (await freeTcpEndpoints(4)) as [string, string, string, string];
  const abort = new AbortController();
  let client: ChainClient | undefined;
  try {
    const tracing = mode === "off" ? ["--no-tracing"] : ["--sample", mode === "on10" ? "0.1" : "1"];
    const col = procs.start({ labDir, cmd: "cmd/trace-collector.ts", name: "collector", args: ["--bind", collector, "--dir", ""] });
    const common = ["--collector", collector, "--stats-ms", "200", ...tracing];
    const s = procs.start({
      labDir,
      cmd: "cmd/monitored-service.ts",
      name: "scorer",
      args: ["--stage", "scorer", "--bind", scorer, ...common],
    });
    const e = procs.start({
      labDir,
      cmd: "cmd/monitored-service.ts",
      name: "enricher",
      args: ["--stage", "enricher", "--bind", enricher, "--next", scorer, ...common],
    });
    const g = procs.start({
      labDir,
      cmd: "cmd/monitored-service.ts",
      name: "gateway",
      args: ["--stage", "gateway", "--bind", gateway, "--next", enricher, ...common],
    });
    await Promise.all([col, s, e, g].map((p) => p.waitForLog("listening", 60_000)));
    client = new ChainClient(gateway);
    void client.listen(abort.signal, testLogger("lab20"));
    const c = client;
    if (mode === "stalled") {
      // Let the side channel connect first, then freeze the collector: its buffers fill and stay full.
      await c.request(TX);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(col.pid as number, "SIGSTOP");
    }
    const latencies: number[] = [];
    let failed = 0;
    let counting = false;
    const end = performance.now() + WARMUP_MS + MEASURE_MS;
    setTimeout(() => (counting = true), WARMUP_MS);
    let t0 = 0;
    const worker = async () => {
      while (performance.now() < end) {
        const start = performance.now();
        const v = await c.request(TX, "", 5000);
        if (!counting) continue;
        if (t0 === 0) t0 = start;
        if (v.ok) latencies.push(performance.now() - start);
        else failed += 1;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = performance.now() - t0;
    latencies.sort((a, b) => a - b);
    if (mode === "stalled") process.kill(col.pid as number, "SIGCONT");
    await new Promise((r) => setTimeout(r, 300));
    const dropped = [s, e, g].reduce((n, p) => n + Number(p.find("stats").at(-1)?.spansDropped ?? 0), 0);
    return { rps: (latencies.length / elapsed) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failed, dropped };
  } finally {
    abort.abort();
    client?.close();
    await procs.stopAll();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const load = loadavg().map((x) => x.toFixed(2));
  const modes: Mode[] = ["off", "on", "on10", "stalled"];
  const results: Record<Mode, Result[]> = { off: [], on: [], on10: [], stalled: [] };
  for (let r = 0; r < ROUNDS; r++)
    for (const m of modes) {
      const res = await run(m);
      results[m].push(res);
      console.error(
        `round ${r + 1} ${m}: ${res.rps.toFixed(0)} req/s, p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms, failed ${res.failed}, spans dropped ${res.dropped}`,
      );
    }
  const row = (m: Mode) => {
    const rs = results[m];
    return {
      rps: median(rs.map((x) => x.rps)),
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      failed: rs.reduce((n, x) => n + x.failed, 0),
      dropped: median(rs.map((x) => x.dropped)),
    };
  };
  const off = row("off");
  console.log(
    `lab20 bench: chain gateway -> enricher -> scorer, ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s per mode, median of ${ROUNDS} rounds; load average ${load.join(" ")} (2 cores)`,
  );
  console.log("");
  console.log("| tracing | req/s | vs off | p50 ms | p99 ms | p99 vs off | failed | spans dropped |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const m of modes) {
    const r = row(m);
    const label = {
      off: "off",
      on: "on, collector up",
      on10: "on, 10 % of traces sampled, collector up",
      stalled: "on, collector stalled (SIGSTOP)",
    }[m];
    console.log(
      `| ${label} | ${r.rps.toFixed(0)} | ${((r.rps / off.rps) * 100).toFixed(1)} % | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${((r.p99 / off.p99) * 100).toFixed(1)} % | ${r.failed} | ${r.dropped} |`,
    );
  }
  console.log("");
  console.log("target: tracing costs under 10 % of throughput and of p99 (req/s >= 90 % of off, p99 <= 110 % of off)");
}

await main();
