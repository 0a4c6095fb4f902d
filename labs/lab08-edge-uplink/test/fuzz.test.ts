// Every bound socket of lab08 fuzzed with the kit's helper, against the real processes: the
// central receiver's front end (devices) and back end (workers). Nothing else in the lab binds: the
// worker and the device only connect. What devices send goes through the queue to the worker, so
// the front-end fuzz reaches the worker's socket too. Afterwards each process must be alive, within
// its memory bound, and serve a valid request.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, rssMiB, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer, Request } from "zeromq";
import { decodeAck, encodeReading, HEARTBEAT, MAX_MESSAGE_BYTES, READY, type Reading } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
/** A node process of this lab is about 100 MiB; a fuzz that made one grow by more than 150 would be a leak. */
const MAX_RSS_MIB = 250;
const HEARTBEAT_ARGS = ["--heartbeat", "250", "--liveness", "3"];
const READING_FIELDS = ["v", "device", "seq", "takenAt", "sensor", "value", "unit"];
const ACK_FIELDS = ["v", "device", "seq", "status", "worker"];
const procs = new ProcessPool();
const tmp = mkdtempSync(join(tmpdir(), "lab08-fuzz-"));
afterEach(() => procs.stopAll());
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function startLab(name: string): Promise<{ receiver: RoleProcess; worker: RoleProcess; front: string; back: string }> {
  const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
  const receiver = procs.start({
    labDir,
    cmd: "cmd/central-receiver.ts",
    name: "receiver",
    args: ["--front", front, "--back", back, ...HEARTBEAT_ARGS],
  });
  const worker = procs.start({
    labDir,
    cmd: "cmd/ingest-worker.ts",
    name: "worker",
    args: ["--id", "w", "--queue", back, "--store", join(tmp, name), "--backoff", "100", "--backoff-max", "400", ...HEARTBEAT_ARGS],
  });
  await receiver.waitForLog("worker ready", WAIT_MS);
  return { receiver, worker, front, back };
}

let seq = 0;
/** A device's request, as Lazy Pirate: a fresh REQ per attempt, so a request lost with a vanished fuzz "worker" is tried again. */
async function deliver(front: string): Promise<void> {
  seq += 1;
  const reading: Reading = { v: 1, device: "probe", seq, takenAt: Date.now(), sensor: "t", value: 20.5, unit: "C" };
  for (let attempt = 1; attempt <= 5; attempt++) {
    const req = new Request({ linger: 0, receiveTimeout: 3000 });
    try {
      req.connect(front);
      await req.send(encodeReading(reading));
      const [frame] = await req.receive();
      const ack = decodeAck(frame);
      if (!ack.ok || ack.value.seq !== seq) throw new Error(`bad ack: ${JSON.stringify(ack)}`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "EAGAIN" || attempt === 5) throw err;
    } finally {
      req.close();
    }
  }
}

/** A worker's first steps: READY, and the queue's heartbeat back. */
async function registerWorker(back: string): Promise<void> {
  const dealer = new Dealer({ linger: 0 });
  try {
    dealer.connect(back);
    await dealer.send(READY);
    const [frame] = await withDeadline(dealer.receive(), WAIT_MS, "a heartbeat for a new worker");
    expect(frame?.equals(HEARTBEAT)).toBe(true);
  } finally {
    dealer.close();
  }
}

describe("fuzzing every bound socket", () => {
  it("the receiver's front end (and, through it, the worker): alive, bounded, still storing readings", async () => {
    const { receiver, worker, front } = await startLab("front");
    const report = await fuzzRole(receiver, {
      endpoint: front,
      peer: "dealer",
      envelope: true,
      fields: READING_FIELDS,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => deliver(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(worker.running, worker.tail()).toBe(true);
    expect(rssMiB(worker.pid as number)).toBeLessThan(MAX_RSS_MIB);
    expect(worker.find("malformed reading dropped").length).toBeGreaterThan(0);
  });

  it("the receiver's back end: alive, bounded, still registering workers and routing readings", async () => {
    const { receiver, worker, front, back } = await startLab("back");
    const report = await fuzzRole(receiver, {
      endpoint: back,
      peer: "dealer",
      words: [READY, HEARTBEAT],
      fields: ACK_FIELDS,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: async () => {
        await registerWorker(back);
        await deliver(front);
      },
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(worker.running, worker.tail()).toBe(true);
    expect(receiver.find("invalid message from a worker dropped").length).toBeGreaterThan(0);
  });
});
