// Fault tests over the real processes, killed with SIGKILL, on a short time scale: heartbeat 100 ms,
// liveness 3, back-off 100 ms doubling to 800 ms, device timeout 800 ms.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, ProcessPool, type RoleProcess, waitForCount, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ReadingStore } from "../internal/store.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const HEARTBEAT = ["--heartbeat", "100", "--liveness", "3"];
const procs = new ProcessPool();
const tmp = mkdtempSync(join(tmpdir(), "lab08-"));
afterEach(() => procs.stopAll());
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let run = 0;
function scratch(): { store: string; outbox: string } {
  run += 1;
  return { store: join(tmp, `store-${run}`), outbox: join(tmp, `outbox-${run}`) };
}

function receiver(name: string, front: string, back: string): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/central-receiver.ts", name, args: ["--front", front, "--back", back, ...HEARTBEAT] });
}

function worker(id: string, queue: string, store: string, extra: string[] = []): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/ingest-worker.ts",
    name: id,
    args: ["--id", id, "--queue", queue, "--store", store, "--backoff", "100", "--backoff-max", "800", ...HEARTBEAT, ...extra],
  });
}

function device(id: string, receivers: string[], outbox: string, extra: string[] = [], env: Record<string, string> = {}): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/field-device.ts",
    name: id,
    env,
    args: [
      "--id",
      id,
      ...receivers.flatMap((r) => ["--receiver", r]),
      "--outbox",
      outbox,
      "--timeout",
      "800",
      "--interval",
      "100",
      "--cool-down",
      "1000",
      ...extra,
    ],
  });
}

/** The title of a view line (`{"view": {...}}`), or "" for a log line. */
const viewTitle = (e: LogEntry) => String((e.view as { title?: unknown } | undefined)?.title ?? "");

/** A process's exit within the deadline; past it, the error shows what it and the others were doing. */
async function exited(proc: RoleProcess, others: RoleProcess[] = []): Promise<unknown> {
  try {
    return await withDeadline(proc.exited, WAIT_MS, `${proc.name} to finish`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${[proc, ...others].map((p) => p.tail(25)).join("\n")}`);
  }
}

describe("Paranoid Pirate under faults", () => {
  it("a worker killed mid-request: the device's retry is served by another worker", async () => {
    const { store, outbox } = scratch();
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const queue = receiver("queue", front, back);
    const stuck = worker("stuck", back, store, ["--delay", "60000"]);
    await queue.waitForLog("worker ready", WAIT_MS);
    const d = device("dev", [front], outbox, ["--count", "1"]);
    await stuck.waitForLog("reading received", WAIT_MS);
    const rescuer = worker("rescuer", back, store);
    await waitForCount(queue, "worker ready", 2, WAIT_MS);
    await procs.crash(stuck);
    expect(await exited(d, [rescuer, queue])).toEqual({ code: 0, signal: null });
    // The first attempt went to the stuck worker; a retry got its ack. Which retry depends on how
    // soon the rescuer's process is up (attempts before it find no idle worker and time out, and
    // one of those may be stored first, so the ack may say "duplicate"): not pinned here.
    expect(d.find({ msg: "no reply; failing over", attempt: 1 })).toHaveLength(1);
    const [delivered] = d.find("reading delivered");
    expect(delivered).toMatchObject({ seq: 1 });
    expect(delivered?.attempt).toBeGreaterThanOrEqual(2);
    // Another process's output: it may still be on its way when the device has exited.
    expect(await rescuer.waitForLog("reading stored", WAIT_MS)).toMatchObject({ device: "dev", seq: 1, status: "stored" });
    expect(new ReadingStore(store).seqs("dev")).toEqual([1]);
  });

  it("the queue killed: its worker backs off 100, 200, 400 ms on fresh sockets and re-registers when it returns", async () => {
    const { store } = scratch();
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const first = receiver("queue", front, back);
    const w = worker("w", back, store);
    await first.waitForLog("worker ready", WAIT_MS);
    // Counted from the queue's first heartbeat heard: a worker up before the queue may have paused
    // (and doubled its back-off) already.
    await w.waitForLog("queue answered; back-off reset", WAIT_MS);
    const up = w.logs.length;
    await procs.crash(first);
    const pauses = await waitForCount(w, "queue silent; reconnecting after a pause", 3, WAIT_MS, up);
    expect(pauses.map((p) => p.delayMs)).toEqual([100, 200, 400]);
    const sent = w.find("ready sent");
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(new Set(sent.map((e) => e.identity)).size).toBe(sent.length);
    const seen = w.logs.length;
    const second = receiver("queue-again", front, back);
    await second.waitForLog("worker ready", WAIT_MS);
    // Traffic from the queue resets the back-off: the next outage starts again at 100 ms.
    await w.waitForLog("queue answered; back-off reset", WAIT_MS, seen);
    const answered = w.logs.length;
    await procs.crash(second);
    const next = await waitForCount(w, "queue silent; reconnecting after a pause", 1, WAIT_MS, answered);
    expect(next[0]?.delayMs, w.tail(30)).toBe(100);
  });

  it("a worker stalled past its liveness (SIGSTOP) reads the heartbeats waiting for it and keeps its connection", async () => {
    const { store, outbox } = scratch();
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const queue = receiver("queue", front, back);
    const w = worker("w", back, store);
    await w.waitForLog("queue answered; back-off reset", WAIT_MS);
    const connected = w.logs.length;
    // A stall as a busy machine makes one: the worker gets no CPU for longer than 3 heartbeats.
    process.kill(w.pid as number, "SIGSTOP");
    await queue.waitForLog("worker expired", WAIT_MS).finally(() => process.kill(w.pid as number, "SIGCONT"));
    const d = device("dev", [front], outbox, ["--count", "1"]);
    expect(await exited(d, [w, queue])).toEqual({ code: 0, signal: null });
    // The queue was alive all along: the worker's connection (and its identity) is the one it had.
    expect(w.find("queue silent; reconnecting after a pause", connected), w.tail(20)).toEqual([]);
    expect(w.find("ready sent", connected)).toEqual([]);
  });

  it("the primary receiver killed: devices fail over to the backup after one request timeout", async () => {
    const { store, outbox } = scratch();
    const [pf, pb, bf, bb] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const primary = receiver("primary", pf, pb);
    const backup = receiver("backup", bf, bb);
    worker("pw", pb, store);
    worker("bw", bb, store);
    const d = device("dev", [pf, bf], outbox);
    // The backup and its worker up before the fault: one timeout at the primary is then all it costs.
    await backup.waitForLog("worker ready", WAIT_MS);
    await waitForCount(d, { msg: "reading delivered", receiver: pf }, 3, WAIT_MS);
    await procs.crash(primary);
    const after = d.logs.length;
    const failedOver = await d.waitForLog({ msg: "reading delivered", receiver: bf }, WAIT_MS, after);
    // The first reading after the crash paid exactly one timeout at the primary.
    expect(failedOver.attempt).toBe(2);
    expect(d.find({ msg: "no reply; failing over", seq: failedOver.seq }, after)).toHaveLength(1);
    // Later readings skip the primary once its circuit opens.
    await d.waitForLog((e) => e.msg === "no reply; failing over" && e.circuit === "opened", WAIT_MS, after);
    await waitForCount(d, { msg: "reading delivered", receiver: bf, attempt: 1 }, 3, WAIT_MS, after);
    await procs.stopAll();
    const seqs = new ReadingStore(store).seqs("dev");
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it("every receiver down for a while: readings wait on disk, and once one returns the store has each exactly once", async () => {
    const { store, outbox } = scratch();
    const [pf, pb, bf] = (await freeTcpEndpoints(3)) as [string, string, string];
    const primary = receiver("primary", pf, pb);
    const w = worker("pw", pb, store);
    // The device prints its live view as JSON lines too (ZLABS_VIEW=json), as the demo's screen gets it.
    const d = device("dev", [pf, bf], outbox, ["--count", "30", "--interval", "50"], { ZLABS_VIEW: "json" });
    await waitForCount(d, "reading delivered", 3, WAIT_MS);
    await procs.crash(primary);
    await d.waitForLog("every receiver unavailable; buffering readings", WAIT_MS);
    const buffering = await d.waitForLog((e) => viewTitle(e).startsWith("every receiver unavailable: buffering · outbox "), WAIT_MS);
    expect(viewTitle(buffering)).toMatch(/ · oldest seq \d+, taken \d+\.\d s ago · /);
    // Every step has its deadline and says which process did what: a receiver that cannot come
    // back (its port taken, a crash at start) fails here with its own output, not as a bare timeout.
    const again = receiver("primary-again", pf, pb);
    await again.waitForLog("listening", WAIT_MS);
    await again.waitForLog("worker ready", WAIT_MS);
    expect(await exited(d, [w, again])).toEqual({ code: 0, signal: null });
    expect(d.find("all readings delivered")).toHaveLength(1);
    expect(d.find("outbox drained: every buffered reading delivered")).toHaveLength(1);
    expect(new ReadingStore(store).seqs("dev")).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
