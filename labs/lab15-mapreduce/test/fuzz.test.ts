// Both bound sockets of the master, fuzzed with the kit's helper against the real process; after
// each fuzz the cluster must still run a job whose result equals the single-process one.
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { fuzzRole, ProcessPool } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { JobKind } from "../internal/jobs.ts";
import { BATCH, DONE, END, READY, RESULT } from "../internal/protocol.ts";
import { type Cluster, expected, resultOf, startCluster, WAIT_MS } from "./cluster.ts";

const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const clusters: Cluster[] = [];
afterEach(() => procs.stopAll());
afterAll(() => {
  for (const c of clusters) c.cleanup();
});

/** A job that starts after now finishes with the single-process result. */
async function probe(c: Cluster): Promise<void> {
  const from = c.master.logs.length;
  await c.master.waitForLog("job started", WAIT_MS, from);
  const done = await c.master.waitForLog("job done", WAIT_MS, c.master.logs.length);
  if (resultOf(done) !== expected(c.dir, done.kind as JobKind))
    throw new Error(`job ${String(done.id)}: result differs from the single-process one`);
}

async function cluster(): Promise<Cluster> {
  const c = await startCluster(procs, { mappers: 1, reduceWorkers: 1, reducers: 1, lines: 1000, masterArgs: ["--pause", "200"] });
  clusters.push(c);
  await c.master.waitForLog("job done", WAIT_MS);
  return c;
}

describe("fuzzing the master", () => {
  it("the work ROUTER takes 1,000 malformed messages (READY among them) and the next job is still right", async () => {
    const c = await cluster();
    const report = await fuzzRole(c.master, {
      endpoint: c.work,
      peer: "dealer",
      words: [READY],
      fields: ["v", "kind", "name"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(c),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(c.master.find("invalid message from a worker dropped").length).toBeGreaterThan(100);
    expect(c.master.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the sink PULL takes 1,000 malformed map outputs and results and the next job is still right", async () => {
    const c = await cluster();
    const report = await fuzzRole(c.master, {
      endpoint: c.sink,
      peer: "push",
      words: [BATCH, END, RESULT, DONE],
      fields: ["v", "job", "task", "attempt", "partition", "records", "end"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(c),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(c.master.find("invalid message at the sink dropped").length).toBeGreaterThan(100);
    expect(c.master.find("message dropped: its handling failed")).toEqual([]);
  });
});
