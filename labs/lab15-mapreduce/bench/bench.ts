// Bench: the log-aggregation job over generated access logs, on the real processes, with 1, 2 and 4
// map workers (2 reducers) and splits of 1 and 4 MiB, against the single-process baseline over the
// same files. Records/s, CPU spent by the whole cluster per million records against the baseline's
// (target <= 1.3x), CPU by role, peak RSS per role. `pnpm --filter lab15 bench`; BENCH_LINES (per
// file, 4 files) sizes the input, BENCH_JOBS the measured jobs per cluster, BENCH_MAPPERS (e.g.
// "1,4") the cluster sizes, BENCH_SPLITS_MIB (e.g. "1,4") the split sizes, BENCH_PROF=<dir> runs
// every role with node --cpu-prof into that folder (where the CPU goes).
//
// On a shared 2-core machine one measurement swings by 2x with the load, so:
// - the baseline runs BASE_RUNS times before each cluster (interleaved, warm) and its median is the reference;
// - each cluster runs one job to warm up, then BENCH_JOBS measured jobs with a pause between jobs, and the CPU
//   of every process is read during the pauses (the cluster idle), so no job's start or end falls outside
//   the window however late this process reads the master's log; the figure is per job, over all of them.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { inputFiles, writeInputs } from "../internal/inputs.ts";
import { formatResult, runSingle } from "../internal/jobs.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const FILES = 4;
const LINES = Number(process.env.BENCH_LINES ?? 100_000);
const MAPPERS = process.env.BENCH_MAPPERS ? process.env.BENCH_MAPPERS.split(",").map(Number) : [1, 2, 4];
const JOBS = Number(process.env.BENCH_JOBS ?? 8);
const BASE_RUNS = 3;
const REDUCERS = 2;
/**
 * Input bytes per map task. Each task costs a fixed amount besides its lines (the messages through the
 * master, a mapper waking for it, its combined pairs for the reducers): the bench shows how much at two sizes.
 */
const SPLITS_MIB = process.env.BENCH_SPLITS_MIB ? process.env.BENCH_SPLITS_MIB.split(",").map(Number) : [1, 4];
/** Between two jobs: the CPU is read in this idle gap. */
const PAUSE_MS = 1500;
const WAIT_MS = 120_000;
const TICK_S = 0.01; // /proc stat times are in clock ticks (USER_HZ 100 on Linux)
const PROF = process.env.BENCH_PROF;
const nodeArgs = PROF ? ["--import", "tsx", "--cpu-prof", "--cpu-prof-dir", PROF] : undefined;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_S;
}
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const dir = mkdtempSync(join(tmpdir(), "lab15-bench-"));
const input = join(dir, "in");
writeInputs(input, "logs", FILES, LINES, 15);
const files = inputFiles(input, "logs");

// Baseline: the same job in this process, warmed up on one file first.
runSingle("logs", files.slice(0, 1));
const base: { ms: number; cpu: number }[] = [];
let oracle = "";
let records = 0;
function baseline(): void {
  for (let i = 0; i < BASE_RUNS; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const single = runSingle("logs", files);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    base.push({ ms, cpu: (cpu.user + cpu.system) / 1e6 });
    oracle ||= formatResult(single.table);
    records = single.lines;
  }
}

interface Row {
  mappers: number;
  splitMiB: number;
  /** Per job, averaged over the measured jobs. */
  ms: number;
  cpu: number;
  /** CPU seconds per job by role: master, all mappers, all reducers. */
  roleCpu: { master: number; map: number; reduce: number };
  rss: { master: number; map: number; reduce: number };
  ok: boolean;
}

/** One cluster (master, n mappers, the reducers) over the input cut into splits of splitMiB, measured over JOBS jobs. */
async function cluster(n: number, splitMiB: number): Promise<Row> {
  const procs = new ProcessPool();
  try {
    const [work, sink] = (await freeTcpEndpoints(2)) as [string, string];
    const common = ["--work", work, "--sink", sink];
    const env = { LOG_LEVEL: "info" };
    const master = procs.start({
      labDir,
      cmd: "cmd/mr-master.ts",
      name: "master",
      nodeArgs,
      env,
      args: [
        ...common,
        ...["--mappers", String(n), "--reducers", String(REDUCERS), "--jobs", "logs"],
        ...["--input", input, "--out", join(dir, "out"), "--split-bytes", String(splitMiB * (1 << 20)), "--pause", String(PAUSE_MS)],
      ],
    });
    const mappers = Array.from({ length: n }, (_, i) =>
      procs.start({ labDir, cmd: "cmd/map-worker.ts", name: `m${i}`, nodeArgs, env, args: [...common, "--name", `m${i}`] }),
    );
    const reducers = Array.from({ length: REDUCERS }, (_, i) =>
      procs.start({ labDir, cmd: "cmd/reduce-worker.ts", name: `r${i}`, nodeArgs, env, args: [...common, "--name", `r${i}`] }),
    );
    const all: RoleProcess[] = [master, ...mappers, ...reducers];
    const cpuNow = () => all.map((p) => cpuSeconds(p.pid as number));
    // The first job warms every process up (JIT, connections); the next JOBS are measured. The CPU is read a
    // little after each "job done", inside the pause before the next job (when the cluster is idle).
    const warm = await master.waitForLog("job done", WAIT_MS);
    await sleep(PAUSE_MS / 3);
    const before = cpuNow();
    let last = warm;
    const done = [];
    for (let j = 0; j < JOBS; j++) {
      const from = master.logs.indexOf(last) + 1;
      last = await master.waitForLog("job done", WAIT_MS, from);
      done.push(last);
    }
    await sleep(PAUSE_MS / 3);
    const after = cpuNow();
    const spent = (from: number, to: number) => {
      let s = 0;
      for (let i = from; i < to; i++) s += (after[i] as number) - (before[i] as number);
      return s / JOBS;
    };
    const max = (ps: RoleProcess[]) => Math.max(...ps.map((p) => peakRssMiB(p.pid as number)));
    return {
      mappers: n,
      splitMiB,
      ms: done.reduce((s, d) => s + (d.ms as number), 0) / JOBS,
      cpu: spent(0, all.length),
      roleCpu: { master: spent(0, 1), map: spent(1, 1 + n), reduce: spent(1 + n, all.length) },
      rss: { master: max([master]), map: max(mappers), reduce: max(reducers) },
      ok: done.every((d) => readFileSync(d.file as string, "utf8") === oracle),
    };
  } finally {
    await procs.stopAll();
  }
}

const rows: Row[] = [];
for (const splitMiB of SPLITS_MIB)
  for (const n of MAPPERS) {
    baseline();
    rows.push(await cluster(n, splitMiB));
  }
rmSync(dir, { recursive: true, force: true });

const baseCpu = median(base.map((b) => b.cpu));
const baseMs = median(base.map((b) => b.ms));
const perM = (cpu: number) => (cpu * 1e6) / records;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const cpuRange = `${Math.min(...base.map((b) => b.cpu)).toFixed(2)}-${Math.max(...base.map((b) => b.cpu)).toFixed(2)}`;
console.log(`lab15 bench: log aggregation over ${fmt(records)} CLF lines (${FILES} files), ${REDUCERS} reducers, ${JOBS} jobs per cluster`);
console.log(
  `machine: ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (shared with other engineers)\n`,
);
console.log(
  "| run | split | records/s | wall | CPU s per 1M records | CPU vs baseline | CPU s per job: master / map / reduce | peak RSS master / map / reduce (MiB) | result == baseline |",
);
console.log("|---|---:|---:|---:|---:|---:|---|---|---|");
console.log(
  `| single process | - | ${fmt((records * 1000) / baseMs)} | ${(baseMs / 1000).toFixed(2)} s | ${perM(baseCpu).toFixed(2)} | 1.00x | ${baseCpu.toFixed(2)} (median of ${base.length}: ${cpuRange}) | ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} (bench process) | - |`,
);
for (const r of rows)
  console.log(
    `| ${r.mappers} map worker${r.mappers > 1 ? "s" : ""} | ${r.splitMiB} MiB | ${fmt((records * 1000) / r.ms)} | ${(r.ms / 1000).toFixed(2)} s | ${perM(r.cpu).toFixed(2)} | ${(r.cpu / baseCpu).toFixed(2)}x | ${r.roleCpu.master.toFixed(2)} / ${r.roleCpu.map.toFixed(2)} / ${r.roleCpu.reduce.toFixed(2)} | ${r.rss.master.toFixed(0)} / ${r.rss.map.toFixed(0)} / ${r.rss.reduce.toFixed(0)} | ${r.ok ? "yes" : "NO"} |`,
  );
console.log(
  `\nBaseline: median of ${base.length} runs in this process, ${BASE_RUNS} before each cluster. Cluster: CPU of every process (master, mappers, reducers) per job, over ${JOBS} jobs after a warm-up job, read while the cluster idles between jobs; target <= 1.3x.`,
);
