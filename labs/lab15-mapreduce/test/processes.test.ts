// The real processes end to end. In every test the distributed result equals the single-process
// result byte for byte (both sorted), including with a mapper or a reducer SIGKILLed mid-job and a
// mapper SIGSTOPped (a straggler that gets a backup task).
import { ProcessPool } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { JobKind } from "../internal/jobs.ts";
import { type Cluster, expected, resultOf, startCluster, WAIT_MS } from "./cluster.ts";

const procs = new ProcessPool();
const clusters: Cluster[] = [];
afterEach(() => procs.stopAll());
afterAll(() => {
  for (const c of clusters) c.cleanup();
});

describe("jobs in a row", () => {
  it("counts every worker in before the first task, runs word count then logs with their own job ids, both equal to the single-process result", async () => {
    const c = await startCluster(procs, { mappers: 2, reduceWorkers: 2, reducers: 2, masterArgs: ["--count", "2"] });
    clusters.push(c);
    const counted = await c.master.waitForLog("every worker counted in: tasks may go", WAIT_MS);
    // No task before all four workers were in: the count-in comes after the fourth "worker in", the first job after it.
    // Four distinct workers (one silent past its liveness during this cold start is counted in again).
    const ins = c.master.find("worker in");
    const fourth = ins.find((_, i) => new Set(ins.slice(0, i + 1).map((e) => e.worker)).size === 4);
    expect(new Set(ins.map((e) => e.worker)).size).toBe(4);
    expect(c.master.logs.indexOf(counted)).toBeGreaterThan(c.master.logs.indexOf(fourth as never));
    const started = await c.master.waitForLog("job started", WAIT_MS);
    expect(c.master.logs.indexOf(started)).toBeGreaterThan(c.master.logs.indexOf(counted));
    await c.master.waitForLog("all jobs done", WAIT_MS);
    const done = c.master.find("job done");
    expect(done.map((d) => d.kind)).toEqual(["wordcount", "logs"]);
    expect(done[1]?.id).toBe((done[0]?.id as number) + 1);
    for (const d of done) expect(resultOf(d)).toBe(expected(c.dir, d.kind as JobKind));
    // Both mappers took part (no slow-joiner skew: neither took the whole first job).
    for (const m of c.mappers) expect(m.find({ msg: "map task done", job: done[0]?.id }).length).toBeGreaterThan(0);
    await c.master.exited;
  });
});

describe("faults mid-job", () => {
  it("a mapper SIGKILLed mid-job: its task runs again, the result equals the single-process one", async () => {
    const c = await startCluster(procs, {
      mappers: 3,
      reduceWorkers: 2,
      reducers: 2,
      masterArgs: ["--count", "1"],
      mapArgs: ["--task-ms", "150"],
    });
    clusters.push(c);
    const started = await c.master.waitForLog("job started", WAIT_MS);
    const victim = c.mappers[0] as (typeof c.mappers)[0];
    await victim.waitForLog({ msg: "map task done", job: started.job }, WAIT_MS);
    // Its next task was sent at once: it dies holding it.
    await victim.kill("SIGKILL");
    await c.master.waitForLog({ msg: "worker lost", worker: "m1" }, WAIT_MS);
    const done = await c.master.waitForLog("job done", WAIT_MS);
    expect(done.reruns).toBeGreaterThanOrEqual(1);
    expect(c.master.find("map task to run again").length).toBeGreaterThanOrEqual(1);
    expect(resultOf(done)).toBe(expected(c.dir, done.kind as JobKind));
  });

  it("a reducer SIGKILLed mid-job: its partition goes to another reducer with the map outputs replayed, the result equals the single-process one", async () => {
    const c = await startCluster(procs, {
      mappers: 2,
      reduceWorkers: 3,
      reducers: 2,
      masterArgs: ["--count", "1"],
      mapArgs: ["--task-ms", "150"],
    });
    clusters.push(c);
    const started = await c.master.waitForLog("job started", WAIT_MS);
    await c.master.waitForLog({ msg: "map task done", job: started.job }, WAIT_MS);
    // The reducers' lines come through their own pipes: waited for, not read at the master's pace.
    const victim = await Promise.race(
      c.reducers.map((r) => r.waitForLog({ msg: "partition assigned", job: started.job }, WAIT_MS).then(() => r)),
    );
    await victim.kill("SIGKILL");
    const reassigned = await c.master.waitForLog("partition reassigned", WAIT_MS);
    expect(reassigned.replay).toBeGreaterThan(0);
    const done = await c.master.waitForLog("job done", WAIT_MS);
    expect(resultOf(done)).toBe(expected(c.dir, done.kind as JobKind));
  });

  it("a mapper SIGSTOPped (a straggler) gets a backup task, the first result wins, and every result stays exact after it wakes", async () => {
    const c = await startCluster(procs, {
      mappers: 3,
      reduceWorkers: 2,
      reducers: 2,
      // Death only after 20 silent heartbeats (4 s): the straggler is handled by speculation, not as dead.
      masterArgs: ["--count", "2", "--liveness", "20", "--speculate", "300", "--jobs", "logs"],
      mapArgs: ["--task-ms", "100"],
      // The victim takes 1.5 s a task: whenever the test stops it, it holds a task.
      firstMapArgs: ["--task-ms", "1500"],
    });
    clusters.push(c);
    const started = await c.master.waitForLog("job started", WAIT_MS);
    const victim = c.mappers[0] as (typeof c.mappers)[0];
    await victim.waitForLog({ msg: "map task done", job: started.job }, WAIT_MS);
    process.kill(victim.pid as number, "SIGSTOP");
    try {
      const backup = await c.master.waitForLog("backup task for a straggler", WAIT_MS);
      expect(backup.straggler).toBe("m1");
      // The job the backup ran for: the stopped mapper may have held no task of the first job (then its
      // next task, of the second job, is the one that straggles), and the first job's "job done" has no backup.
      const done = await c.master.waitForLog({ msg: "job done", id: backup.job }, WAIT_MS);
      expect(done.backups).toBeGreaterThanOrEqual(1);
      expect(resultOf(done)).toBe(expected(c.dir, done.kind as JobKind));
    } finally {
      process.kill(victim.pid as number, "SIGCONT");
    }
    // Woken, whatever it sends late (a duplicate, or output of a finished job) is never counted twice.
    await c.master.waitForLog("all jobs done", WAIT_MS);
    for (const d of c.master.find("job done")) expect(resultOf(d)).toBe(expected(c.dir, d.kind as JobKind));
  }, 120_000);
});
