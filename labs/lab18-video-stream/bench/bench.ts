// pnpm --filter lab18 bench [-- --seconds 8 --rounds 4 --soak 10000 --sample-steps 16,8 --ring 8 --bare-buffers 8]
// One run, side by side, 4K NV12 frames (12,441,600 bytes): frames/s and GB/s delivered to 1 and 3
// subscribers by the lab's camera-feed and analytics-engines against a bare zeromq.js PUB-SUB of
// the same frame size (bench/bare.ts: the binding's ceiling); CPU per frame and peak RSS per
// process; then a soak of the camera and one engine, sampling RSS from /proc, for "RSS flat".
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, RoleProcess } from "@zlabs/kit/testing";
import { SAMPLE_STEP } from "../internal/analysis.ts";
import { ENGINE_RCVHWM } from "../internal/analytics-engine.ts";
import { CAMERA_SNDHWM } from "../internal/camera-feed.ts";
import { MAX_FRAME_BYTES } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 8);
const ROUNDS = arg("rounds", 4);
const SOAK = arg("soak", 10_000);
/** The engines' --sample-step in the lab runs: each step is a lab run of its own in every round. */
const STEPS = (() => {
  const i = process.argv.indexOf("--sample-steps");
  return i > 0 ? (process.argv[i + 1] ?? "").split(",").map(Number) : [SAMPLE_STEP, 8];
})();
const BYTES = MAX_FRAME_BYTES;
const loadAtStart = loadavg();
const WAIT = 600_000;
/** Frames in the camera's ring of pre-rendered, immutable frames (8 x 12.4 MB). */
const RING = arg("ring", 8);
/**
 * Distinct Buffers the bare publisher sends in turn: as many as the camera's ring, so that both
 * read the same memory per frame. One 12.4 MB Buffer stays in the 105 MB L3 cache for the kernel's
 * copy into the socket; eight (100 MB) do not (README, Benchmark, "What changed for run 5").
 */
const BARE_BUFFERS = arg("bare-buffers", RING);
/**
 * The soak's camera rate: 10,000 frames flat out would be sent in a second or two (PUB drops what
 * an engine has no room for); paced, the soak lasts minutes and the engine analyses most of them.
 */
const SOAK_FPS = 100;
/**
 * The engines' Suicidal Snail limit in the bench: an hour. On this loaded machine a frame can wait
 * more than the demo's 1 s in the queues (SNDHWM + TCP + RCVHWM); an engine would then drop its
 * queue unanalysed (a resync, tested in test/), which measures the lag policy, not the transport.
 * Resyncs and frames skipped are printed per engine all the same.
 */
const BENCH_MAX_LAG_MS = 3_600_000;

interface Proc {
  name: string;
  frames: number;
  /** Frames an engine received and dropped unanalysed (resyncs, latest-frame skips). */
  skipped?: number;
  maxRssMiB: number;
  cpuSec: number;
}

interface Result {
  label: string;
  /** The engines' sample step (lab runs). */
  step?: number;
  subs: number;
  seconds: number;
  /** Frames the publisher sent (PUB drops those a subscriber has no room for). */
  sent: number;
  perSubFps: number;
  gbps: number;
  procs: Proc[];
  allocationsPerFrame?: number;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);
  return kb / 1024;
}

const start = (name: string, cmd: string, args: string[]) => new RoleProcess({ labDir, cmd, name, args, env: { LOG_LEVEL: "info" } });
const exitLine = (p: RoleProcess, msg: string) => p.waitForLog(msg, WAIT);

/** CPU time of a process so far, in seconds, from /proc (clock ticks of 10 ms). */
function cpuSec(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN; // it has exited (the soak's camera, after its frames)
  }
  const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * One configuration: the subscribers connect, then the publisher sends flat out for `seconds`
 * (or, with `frames`, the camera sends that many); each subscriber's rate is its frames over its
 * own first-to-last span. CPU is counted from /proc over the sending only (startup excluded).
 */
async function run(
  lab: boolean,
  subs: number,
  seconds: number,
  frames = 0,
  fps = 0,
  sample?: (pids: number[]) => void,
  step = SAMPLE_STEP,
): Promise<Result> {
  const [endpoint] = (await freeTcpEndpoints(1)) as [string];
  const subProcs = Array.from({ length: subs }, (_, i) =>
    lab
      ? start(`engine-${i + 1}`, "cmd/analytics-engine.ts", [
          "--id",
          `e${i + 1}`,
          "--cameras",
          endpoint,
          "--hwm",
          String(ENGINE_RCVHWM),
          "--no-verify",
          "--max-lag",
          String(BENCH_MAX_LAG_MS),
          "--stats-ms",
          "600000",
          "--sample-step",
          String(step),
        ])
      : start(`bare-sub-${i + 1}`, "bench/bare.ts", ["sub", endpoint, String(BYTES), "0", String(ENGINE_RCVHWM)]),
  );
  for (const s of subProcs) await s.waitForLog("subscribed", WAIT);
  const pub = lab
    ? start("camera", "cmd/camera-feed.ts", [
        "--endpoint",
        endpoint,
        "--fps",
        String(fps),
        "--frames",
        String(frames),
        "--loop",
        String(RING),
        "--hwm",
        String(CAMERA_SNDHWM),
        "--stats-ms",
        "600000",
      ])
    : start("bare-pub", "bench/bare.ts", ["pub", endpoint, String(BYTES), String(seconds), String(CAMERA_SNDHWM), String(BARE_BUFFERS)]);
  const on = await pub.waitForLog(lab ? "camera on" : "bare sending", WAIT);
  const pids = [pub.pid as number, ...subProcs.map((s) => s.pid as number)];
  const cpu0 = pids.map(cpuSec);
  const t0 = performance.now();
  const timer = sample ? setInterval(() => sample(pids), 250) : undefined;
  if (lab && frames === 0) setTimeout(() => pub.kill("SIGTERM"), seconds * 1000);
  const done = await pub.waitForLog(lab ? "camera done" : "bare done", WAIT);
  const elapsed = (performance.now() - t0) / 1000;
  // What is still in flight arrives; then the subscribers stop and report.
  await new Promise((r) => setTimeout(r, 1000));
  const cpu1 = pids.map(cpuSec);
  if (timer) clearInterval(timer);
  const pubExit = lab ? await exitLine(pub, "exiting") : done;
  const subExits: LogEntry[] = [];
  for (const s of subProcs) {
    const line = exitLine(s, lab ? "engine stopped" : "bare stopped");
    const exit = lab ? exitLine(s, "exiting") : line;
    s.kill("SIGTERM");
    subExits.push({ ...(await line), maxRssMiB: (await exit).maxRssMiB });
  }
  await Promise.all([pub, ...subProcs].map((p) => p.stop()));
  const rates = subExits.map((e) => ((e.frames as number) - 1) / ((e.spanMs as number) / 1000));
  const perSubFps = rates.reduce((a, b) => a + b, 0) / subs;
  const delivered = subExits.reduce((a, e) => a + (e.frames as number), 0) / subs;
  return {
    label: lab ? `lab: camera-feed -> analytics-engine, step ${step}` : "bare zeromq.js PUB -> SUB",
    step: lab ? step : undefined,
    subs,
    seconds: elapsed,
    sent: done.sent as number,
    perSubFps,
    gbps: (perSubFps * subs * BYTES) / 1e9,
    allocationsPerFrame: lab ? (done.allocations as number) / (done.sent as number) : undefined,
    procs: [
      {
        name: pub.name,
        frames: Math.round(delivered),
        maxRssMiB: pubExit.maxRssMiB as number,
        cpuSec: (done.cpuSec as number) - (on.cpuSec as number),
      },
      ...subProcs.map((s, i) => ({
        name: s.name,
        frames: subExits[i]?.frames as number,
        maxRssMiB: subExits[i]?.maxRssMiB as number,
        skipped: subExits[i]?.skipped as number | undefined,
        cpuSec: (cpu1[i + 1] as number) - (cpu0[i + 1] as number),
      })),
    ],
  };
}

const f1 = (x: number) => x.toFixed(1);
/** The middle value (the mean of the two middle ones for an even count). */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
// Rounds interleave bare and lab runs, so the other work on the machine weighs on both alike; the
// order flips every round (bare first, then lab first) so a load that rises or falls through a
// round does not favour one side.
const results: (Result & { round: number })[] = [];
const runs = [undefined, ...STEPS];
for (let round = 1; round <= ROUNDS; round++)
  for (const subs of [1, 3])
    for (const step of round % 2 ? runs : [...runs].reverse())
      results.push({ ...(await run(step !== undefined, subs, SECONDS, 0, 0, undefined, step)), round });

console.log(
  `\n4K NV12 frames of ${BYTES.toLocaleString("en")} bytes, published flat out for ${SECONDS} s per run, SNDHWM ${CAMERA_SNDHWM}, RCVHWM ${ENGINE_RCVHWM}`,
);
console.log(
  `machine: ${cpus().length} cores, load average (1, 5, 15 min) ${loadAtStart.map((x) => x.toFixed(1)).join(" ")} at the start, ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")} now (shared with other engineers' work)\n`,
);
console.log("| round | run | subscribers | frames/s published | frames/s per subscriber | GB/s delivered (all subscribers) | lab / bare |");
console.log("|---|---|---|---|---|---|---|");
/** A lab run's frames/s over the bare run's of the same round and subscribers. */
const ratioToBare = (r: Result & { round: number }) => {
  const bare = results.find((b) => b.round === r.round && b.subs === r.subs && b.step === undefined);
  return r.step !== undefined && bare ? r.perSubFps / bare.perSubFps : undefined;
};
for (const r of results) {
  const x = ratioToBare(r);
  console.log(
    `| ${r.round} | ${r.label} | ${r.subs} | ${f1(r.sent / r.seconds)} | ${f1(r.perSubFps)} | ${r.gbps.toFixed(2)} | ${x === undefined ? "" : `${x.toFixed(2)}x`} |`,
  );
}
const sumFps = (subs: number, step: number | undefined) =>
  results.filter((r) => r.subs === subs && r.step === step).reduce((a, r) => a + r.perSubFps, 0);
for (const subs of [1, 3])
  for (const step of STEPS) {
    const xs = results.filter((r) => r.subs === subs && r.step === step).map((r) => ratioToBare(r) as number);
    const sorted = [...xs].sort((a, b) => a - b);
    console.log(
      `lab / bare, ${subs} subscriber(s), step ${step}, over ${xs.length} rounds: ${sorted.map((x) => x.toFixed(2)).join(", ")} (median ${median(xs).toFixed(2)}; all rounds pooled, lab frames/s over bare frames/s: ${(sumFps(subs, step) / sumFps(subs, undefined)).toFixed(2)}x)`,
    );
  }
console.log("\nCPU per frame: the process's CPU while sending, over the frames one subscriber received (the publisher's too).");
console.log("| round | run | subscribers | process | frames | skipped (resync) | CPU ms per frame | peak RSS MiB |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of results)
  for (const p of r.procs)
    console.log(
      `| ${r.round} | ${r.step ? `lab, step ${r.step}` : r.label} | ${r.subs} | ${p.name} | ${p.frames} | ${p.skipped ?? ""} | ${f1((p.cpuSec * 1000) / Math.max(1, p.frames))} | ${p.maxRssMiB} |`,
    );
console.log(
  `\ncamera (a ring of ${RING} pre-rendered immutable frames): Buffers allocated per frame sent, counted at the allocation sites (the header; no payload):`,
);
for (const r of results.filter((x) => x.allocationsPerFrame !== undefined))
  console.log(`- round ${r.round}, step ${r.step}, ${r.subs} subscriber(s): ${r.allocationsPerFrame} over ${r.sent} frames sent`);

// Soak: the camera and one engine for SOAK frames, RSS sampled every 250 ms.
const samples: number[][] = [];
const soak = await run(true, 1, 0, SOAK, SOAK_FPS, (pids) => {
  try {
    samples.push(pids.map(rssMiB));
  } catch {
    // A process ended between two samples.
  }
});
// Warm: the second tenth of the run (the first holds start-up and the first GC cycles); later: the
// last half. RSS is a sawtooth (received frames are freed when V8 collects their Buffers), so both
// the peaks and the medians are shown. Flat means later within 10 % of warm.
const tenth = Math.max(1, Math.floor(samples.length / 10));
console.log(
  `\nsoak: ${SOAK} frames at ${SOAK_FPS} fps, ${f1(soak.seconds)} s, ${samples.length} RSS samples (every 250 ms), ${soak.procs[1]?.frames} frames analysed; camera: ${soak.allocationsPerFrame} Buffers allocated per frame`,
);
console.log(
  "| process | peak RSS MiB, second tenth | peak, last half | growth | median RSS MiB, second tenth | median, last half | growth |",
);
console.log("|---|---|---|---|---|---|---|");
const pct = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(1)} %`;
for (const [i, name] of ["camera", "engine"].entries()) {
  const warm = samples.slice(tenth, 2 * tenth).map((s) => s[i] as number);
  const later = samples.slice(Math.floor(samples.length / 2)).map((s) => s[i] as number);
  const [wp, lp, wm, lm] = [Math.max(...warm), Math.max(...later), median(warm), median(later)];
  console.log(`| ${name} | ${wp.toFixed(0)} | ${lp.toFixed(0)} | ${pct(wp, lp)} | ${wm.toFixed(0)} | ${lm.toFixed(0)} | ${pct(wm, lm)} |`);
}
