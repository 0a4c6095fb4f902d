// Bench: the log-aggregation job over generated access logs, on the real processes, with 1, 2 and 4
// map workers (2 reducers), against the single-process baseline over the same files. Records/s,
// CPU spent by the whole cluster per million records against the baseline's (target <= 1.3x), peak
// RSS per role. The cluster runs the job twice back to back and the second run is measured (the
// baseline is warmed up too). `pnpm --filter lab15 bench`; BENCH_LINES (per file, 4 files) sizes the input.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { inputFiles, writeInputs } from "../internal/inputs.ts";
import { formatResult, runSingle } from "../internal/jobs.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const FILES = 4;
const LINES = Number(process.env.BENCH_LINES ?? 100_000);
const MAPPERS = [1, 2, 4];
const REDUCERS = 2;
const WAIT_MS = 120_000;
const TICK_S = 0.01; // /proc stat times are in clock ticks (USER_HZ 100 on Linux)

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_S;
}
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const dir = mkdtempSync(join(tmpdir(), "lab15-bench-"));
const input = join(dir, "in");
writeInputs(input, "logs", FILES, LINES, 15);
const files = inputFiles(input, "logs");

// Baseline: the same job in this process (once to warm up on one file, then measured).
runSingle("logs", files.slice(0, 1));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const single = runSingle("logs", files);
const baseMs = performance.now() - t0;
const cpu1 = process.cpuUsage(cpu0);
const baseCpu = (cpu1.user + cpu1.system) / 1e6;
const oracle = formatResult(single.table);
const records = single.lines;

interface Row {
  mappers: number;
  ms: number;
  cpu: number;
  rss: { master: number; map: number; reduce: number };
  ok: boolean;
}
const rows: Row[] = [];
for (const n of MAPPERS) {
  const procs = new ProcessPool();
  try {
    const [work, sink] = (await freeTcpEndpoints(2)) as [string, string];
    const common = ["--work", work, "--sink", sink];
    const master = procs.start({
      labDir,
      cmd: "cmd/mr-master.ts",
      name: "master",
      env: { LOG_LEVEL: "info" },
      args: [
        ...common,
        "--mappers",
        String(n),
        "--reducers",
        String(REDUCERS),
        "--jobs",
        "logs",
        "--input",
        input,
        "--out",
        join(dir, "out"),
        "--split-bytes",
        String(1 << 20),
        "--pause",
        "0",
      ],
    });
    const mappers = Array.from({ length: n }, (_, i) =>
      procs.start({ labDir, cmd: "cmd/map-worker.ts", name: `m${i}`, env: { LOG_LEVEL: "info" }, args: [...common, "--name", `m${i}`] }),
    );
    const reducers = Array.from({ length: REDUCERS }, (_, i) =>
      procs.start({ labDir, cmd: "cmd/reduce-worker.ts", name: `r${i}`, env: { LOG_LEVEL: "info" }, args: [...common, "--name", `r${i}`] }),
    );
    const all: RoleProcess[] = [master, ...mappers, ...reducers];
    // A first job warms every process up (JIT, connections); the second one, back to back, is measured.
    const warm = await master.waitForLog("job done", WAIT_MS);
    const before = all.map((p) => cpuSeconds(p.pid as number));
    const done = await master.waitForLog((e) => e.msg === "job done" && e.id !== warm.id, WAIT_MS);
    const after = all.map((p) => cpuSeconds(p.pid as number));
    const max = (ps: RoleProcess[]) => Math.max(...ps.map((p) => peakRssMiB(p.pid as number)));
    rows.push({
      mappers: n,
      ms: done.ms as number,
      cpu: after.reduce((s, c, i) => s + c - (before[i] as number), 0),
      rss: { master: max([master]), map: max(mappers), reduce: max(reducers) },
      ok: readFileSync(done.file as string, "utf8") === oracle,
    });
  } finally {
    await procs.stopAll();
  }
}
rmSync(dir, { recursive: true, force: true });

const perM = (cpu: number) => (cpu * 1e6) / records;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(`lab15 bench: log aggregation over ${fmt(records)} CLF lines (${FILES} files, 1 MiB splits), ${REDUCERS} reducers`);
console.log(
  `machine: ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (shared with other engineers)\n`,
);
console.log(
  "| run | records/s | wall | CPU s per 1M records | CPU vs baseline | peak RSS master / map / reduce (MiB) | result == baseline |",
);
console.log("|---|---:|---:|---:|---:|---|---|");
console.log(
  `| single process | ${fmt((records * 1000) / baseMs)} | ${(baseMs / 1000).toFixed(2)} s | ${perM(baseCpu).toFixed(2)} | 1.00x | ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} (bench process) | - |`,
);
for (const r of rows)
  console.log(
    `| ${r.mappers} map worker${r.mappers > 1 ? "s" : ""} | ${fmt((records * 1000) / r.ms)} | ${(r.ms / 1000).toFixed(2)} s | ${perM(r.cpu).toFixed(2)} | ${(r.cpu / baseCpu).toFixed(2)}x | ${r.rss.master.toFixed(0)} / ${r.rss.map.toFixed(0)} / ${r.rss.reduce.toFixed(0)} | ${r.ok ? "yes" : "NO"} |`,
  );
console.log("\nCPU counts every process of the cluster (master, mappers, reducers) over the second of two jobs in a row; target <= 1.3x.");
