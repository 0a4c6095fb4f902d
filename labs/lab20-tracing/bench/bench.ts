// pnpm --filter lab20 bench: the chain's request latency (p50, p99) and throughput with tracing off,
// on with the collector up, and on with the collector stalled (SIGSTOP), side by side in one run.
// Each mode is its own chain of processes (collector + gateway + enricher + scorer, no simulated
// work), all started once; the client is this process, a closed loop with CONCURRENCY requests in
// flight (the chain saturated: every CPU microsecond tracing spends shows). The modes are measured
// in turn, ROUNDS rounds; a mode's figure is the median of its rounds, and its ratio to "off" the
// median of the ratios within each round (on a shared machine the load moves between rounds more
// than between neighbouring runs). Every trace is sampled (--sample 1), the worst case for tracing,
// except in one row at --sample 0.1. CPU per request is read from /proc for every process.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess, testLogger } from "@zlabs/kit/testing";
import { ChainClient, percentile } from "../internal/load-client.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const CONCURRENCY = Number(process.env.BENCH20_CONCURRENCY ?? 16);
const MEASURE_MS = Number(process.env.BENCH20_MS ?? 3000);
const WARMUP_MS = 500;
const ROUNDS = Number(process.env.BENCH20_ROUNDS ?? 5);
const TX = { card: "4111-0001", merchant: "grocer", amount: 42 };
/** BENCH20_MODES=off,on runs only these modes; BENCH20_CPU_PROF=dir writes a V8 CPU profile per process there. */
const ONLY = process.env.BENCH20_MODES?.split(",");
const PROF_DIR = process.env.BENCH20_CPU_PROF;
const nodeArgs = PROF_DIR ? ["--import", "tsx", "--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`] : undefined;

const SMALL_BUFFER = 64 * 1024;
const MODES = ["off", "on", "on10", "stalled"] as const;
type Mode = (typeof MODES)[number];
const LABELS: Record<Mode, string> = {
  off: "off",
  on: "on, collector up",
  on10: "on, 10 % of traces sampled, collector up",
  stalled: "on, collector stalled (SIGSTOP)",
};
const ROLES = ["client", "gateway", "enricher", "scorer", "collector"] as const;
type Role = (typeof ROLES)[number];

/** CPU time a process has used so far, ms (utime + stime from /proc; 0 where there is no /proc). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  /** Spans the services dropped during the measurement. */
  dropped: number;
  /** CPU microseconds per request, by process (the client is this bench process). */
  cpu: Record<Role, number>;
}

interface Chain {
  mode: Mode;
  client: ChainClient;
  services: RoleProcess[];
  collector: RoleProcess;
  pids: Record<Role, number | undefined>;
}

async function startChain(procs: ProcessPool, mode: Mode, abort: AbortSignal): Promise<Chain> {
  const [collector, gateway, enricher, scorer] = (await freeTcpEndpoints(4)) as [string, string, string, string];
  const tracing = mode === "off" ? ["--no-tracing"] : ["--sample", mode === "on10" ? "0.1" : "1"];
  // The stalled chain's side channel has small kernel buffers (64 KiB each side), full within the
  // first second of load as after a long stall, so the drop path is what it measures.
  const small = mode === "stalled" ? ["--side-sndbuf", String(SMALL_BUFFER)] : [];
  const common = ["--collector", collector, "--stats-ms", "100", ...tracing, ...small];
  const start = (name: string, cmd: string, args: string[]) => procs.start({ labDir, cmd, name: `${mode} ${name}`, nodeArgs, args });
  const col = start("collector", "cmd/trace-collector.ts", [
    "--bind",
    collector,
    "--dir",
    "",
    ...(mode === "stalled" ? ["--rcvbuf", String(SMALL_BUFFER)] : []),
  ]);
  const s = start("scorer", "cmd/monitored-service.ts", ["--stage", "scorer", "--bind", scorer, ...common]);
  const e = start("enricher", "cmd/monitored-service.ts", ["--stage", "enricher", "--bind", enricher, "--next", scorer, ...common]);
  const g = start("gateway", "cmd/monitored-service.ts", ["--stage", "gateway", "--bind", gateway, "--next", enricher, ...common]);
  await Promise.all([col, s, e, g].map((p) => p.waitForLog("listening", 60_000)));
  const client = new ChainClient(gateway);
  void client.listen(abort, testLogger("lab20"));
  // Every stage and the side channel connected before anything is measured.
  await client.request(TX, "", 10_000);
  await new Promise((r) => setTimeout(r, 300));
  // The stalled chain's collector is frozen for the whole run: its buffers fill and stay full.
  if (mode === "stalled") process.kill(col.pid as number, "SIGSTOP");
  return {
    mode,
    client,
    services: [g, e, s],
    collector: col,
    pids: { client: process.pid, gateway: g.pid, enricher: e.pid, scorer: s.pid, collector: col.pid },
  };
}

/** The services' running total of dropped spans, from their latest 'stats' lines. */
const droppedSoFar = (chain: Chain) => chain.services.reduce((n, p) => n + Number(p.find("stats").at(-1)?.spansDropped ?? 0), 0);

async function measure(chain: Chain): Promise<Result> {
  const c = chain.client;
  const latencies: number[] = [];
  let failed = 0;
  let counting = false;
  const end = performance.now() + WARMUP_MS + MEASURE_MS;
  setTimeout(() => (counting = true), WARMUP_MS);
  let t0 = 0;
  let cpu0: Record<Role, number> | undefined;
  let dropped0 = 0;
  const cpuNow = () => Object.fromEntries(ROLES.map((r) => [r, cpuMs(chain.pids[r])])) as Record<Role, number>;
  const worker = async () => {
    while (performance.now() < end) {
      const start = performance.now();
      const v = await c.request(TX, "", 5000);
      if (!counting) continue;
      if (t0 === 0) {
        t0 = start;
        cpu0 = cpuNow();
        dropped0 = droppedSoFar(chain);
      }
      if (v.ok) latencies.push(performance.now() - start);
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = performance.now() - t0;
  const cpu1 = cpuNow();
  const n = Math.max(1, latencies.length + failed);
  const cpu = Object.fromEntries(ROLES.map((r) => [r, ((cpu1[r] - (cpu0?.[r] ?? 0)) * 1000) / n])) as Record<Role, number>;
  latencies.sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 300)); // the services' last 'stats' line of this measurement
  return {
    rps: (latencies.length / elapsed) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failed,
    dropped: droppedSoFar(chain) - dropped0,
    cpu,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

async function main(): Promise<void> {
  const modes = MODES.filter((m) => !ONLY || ONLY.includes(m));
  const procs = new ProcessPool();
  const abort = new AbortController();
  const chains: Chain[] = [];
  const results = Object.fromEntries(modes.map((m) => [m, [] as Result[]])) as Record<Mode, Result[]>;
  const loadStart = loadavg()[0] as number;
  try {
    for (const m of modes) chains.push(await startChain(procs, m, abort.signal));
    for (let r = 0; r < ROUNDS; r++)
      for (const chain of chains) {
        const res = await measure(chain);
        results[chain.mode].push(res);
        console.error(
          `round ${r + 1} ${chain.mode}: ${res.rps.toFixed(0)} req/s, p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms, failed ${res.failed}, spans dropped ${res.dropped}; CPU µs/request ${ROLES.map((x) => `${x} ${res.cpu[x].toFixed(0)}`).join(", ")}`,
        );
      }
  } finally {
    for (const c of chains) {
      if (c.mode === "stalled") process.kill(c.collector.pid as number, "SIGCONT");
      c.client.close();
    }
    abort.abort();
    await procs.stopAll();
  }
  const base = results.off.length > 0 ? "off" : (modes[0] as Mode);
  /** Per round, mode / base; the median, and the range over the rounds. */
  const ratio = (m: Mode, f: (x: Result) => number) => {
    const xs = results[m].map((x, i) => f(x) / f(results[base][i] as Result));
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  };
  const load = loadavg().map((x) => x.toFixed(2));
  console.log(
    `lab20 bench: chain gateway -> enricher -> scorer, ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s per mode and round, ${ROUNDS} rounds; load average ${loadStart.toFixed(2)} at the start, ${load.join(" ")} at the end (2 cores)`,
  );
  console.log("");
  console.log("| tracing | req/s | vs off (range) | p50 ms | p99 ms | p99 vs off (range) | failed | spans dropped |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const m of modes) {
    const rs = results[m];
    const t = ratio(m, (x) => x.rps);
    const p = ratio(m, (x) => x.p99);
    console.log(
      `| ${LABELS[m]} | ${median(rs.map((x) => x.rps)).toFixed(0)} | ${pct(t.median)} (${pct(t.min)}–${pct(t.max)}) | ${median(rs.map((x) => x.p50)).toFixed(2)} | ${median(rs.map((x) => x.p99)).toFixed(2)} | ${pct(p.median)} (${pct(p.min)}–${pct(p.max)}) | ${rs.reduce((n, x) => n + x.failed, 0)} | ${rs.reduce((n, x) => n + x.dropped, 0)} |`,
    );
  }
  console.log("");
  console.log(`| CPU µs per request (median) | ${ROLES.join(" | ")} | all |`);
  console.log(`|---|${ROLES.map(() => "---:").join("|")}|---:|`);
  for (const m of modes) {
    const c = Object.fromEntries(ROLES.map((k) => [k, median(results[m].map((x) => x.cpu[k]))])) as Record<Role, number>;
    const all = median(results[m].map((x) => ROLES.reduce((n, k) => n + x.cpu[k], 0)));
    console.log(`| ${LABELS[m]} | ${ROLES.map((k) => c[k].toFixed(0)).join(" | ")} | ${all.toFixed(0)} |`);
  }
  console.log("");
  console.log("target: tracing costs under 10 % of throughput and of p99 (req/s >= 90 % of off, p99 <= 110 % of off)");
}

await main();
