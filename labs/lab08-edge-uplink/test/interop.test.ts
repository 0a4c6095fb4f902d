// 6/PPP against pyzmq (libzmq) in both directions: a Python worker behind our queue, and our
// worker behind a Python queue. Python does the ZeroMQ part; message bodies are built here.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, hasPythonMsgpack, hasPyzmq, PythonPeers, Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CentralReceiver } from "../internal/central-receiver.ts";
import { FieldDevice } from "../internal/field-device.ts";
import { IngestWorker } from "../internal/ingest-worker.ts";
import { Outbox } from "../internal/outbox.ts";
import { decodeAck, decodeReading, encodeAck, encodeReading } from "../internal/protocol.ts";
import { ReadingStore } from "../internal/store.ts";

const log = testLogger("lab08");
const WAIT_MS = 15_000;
const tmp = mkdtempSync(join(tmpdir(), "lab08-interop-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const tasks = new Tasks();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

// A Paranoid Pirate worker as the Guide's ppworker: READY first, answers heartbeats, echoes the envelope.
const PY_WORKER = `
import sys, zmq
ack = bytes.fromhex(sys.argv[2])
w = zmq.Context.instance().socket(zmq.DEALER)
w.setsockopt(zmq.LINGER, 0)
w.connect(sys.argv[1])
w.send(b"\\x01")
while True:
    frames = w.recv_multipart()
    if len(frames) == 1 and frames[0] == b"\\x02":
        w.send(b"\\x02")
    elif len(frames) == 3 and frames[1] == b"":
        print(frames[2].hex(), flush=True)
        w.send_multipart([frames[0], b"", ack])
`;

// A Paranoid Pirate queue's worker side: waits for READY, sends one request, prints the reply.
const PY_QUEUE = `
import sys, zmq
body = bytes.fromhex(sys.argv[1])
q = zmq.Context.instance().socket(zmq.ROUTER)
q.setsockopt(zmq.LINGER, 0)
port = q.bind_to_random_port("tcp://127.0.0.1")
print(f"tcp://127.0.0.1:{port}", flush=True)
while True:
    frames = q.recv_multipart()
    if len(frames) == 2 and frames[1] == b"\\x01":
        print("ready", flush=True)
        q.send_multipart([frames[0], b"client-7", b"", body])
    elif len(frames) == 4:
        print(" ".join(f.hex() for f in frames[1:]), flush=True)
        break
`;

// A device written with pyzmq and Python's msgpack, which packs an int of 2**32 or more (a ms
// timestamp) as uint64 and a float as float 64. Prints each ack's seq with its Python type, and its
// status, or "timeout". (Our side sends an integer of 2**32 or more as int64: Python reads an int.)
const PY_DEVICE = `
import sys, time, zmq, msgpack
now = int(time.time() * 1000)
readings = [
    {"v": 1, "device": "py-dev", "seq": 2**32 + 1, "takenAt": now, "sensor": "t", "value": 21.5, "unit": "C",
     "batch": 2**40},
    {"v": 1, "device": "py-dev", "seq": 2.0, "takenAt": time.time() * 1000, "sensor": "t", "value": 22, "unit": "C"},
]
for r in readings:
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.connect(sys.argv[1])
    s.send(msgpack.packb(r))
    try:
        ack = msgpack.unpackb(s.recv())
        print(ack["seq"], type(ack["seq"]).__name__, ack["status"], flush=True)
    except zmq.Again:
        print("timeout", flush=True)
    s.close()
`;

describe.skipIf(!hasPyzmq())("6/PPP interop with pyzmq (libzmq)", () => {
  it.skipIf(!hasPythonMsgpack())(
    "a pyzmq device's readings, with numbers as uint64 and as float, are stored (python3-msgpack needed)",
    async () => {
      const receiver = new CentralReceiver({ front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, heartbeatMs: 1000, liveness: 3 }, log);
      await receiver.bind();
      void tasks.run((s) => receiver.run(s));
      const store = new ReadingStore(join(tmp, "py-store"));
      const worker = new IngestWorker(
        { id: "w", queue: receiver.endpoints.back, heartbeatMs: 1000, liveness: 3, backoffInitMs: 1000, backoffMaxMs: 32_000, delayMs: 0 },
        store,
        log,
      );
      void tasks.run((s) => worker.run(s));
      const device = python.start(PY_DEVICE, [receiver.endpoints.front]);
      expect(await device.nextLine("the first ack")).toBe(`${2 ** 32 + 1} int stored`);
      expect(await device.nextLine("the second ack")).toBe("2 int stored");
      expect(store.seqs("py-dev")).toEqual([2, 2 ** 32 + 1]);
    },
  );

  it("a pyzmq worker behind our queue stores a device's reading", async () => {
    const receiver = new CentralReceiver({ front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, heartbeatMs: 100, liveness: 3 }, log);
    await receiver.bind();
    void tasks.run((s) => receiver.run(s));
    const ack = encodeAck({ v: 1, device: "py-dev", seq: 1, status: "stored", worker: "pyzmq" });
    const worker = python.start(PY_WORKER, [receiver.endpoints.back, ack.toString("hex")]);
    const device = new FieldDevice(
      {
        id: "py-dev",
        receivers: [receiver.endpoints.front],
        intervalMs: 20,
        timeoutMs: 2000,
        breakerThreshold: 3,
        coolDownMs: 1000,
        count: 1,
      },
      new Outbox(join(tmp, "outbox"), 10),
      log,
    );
    const delivered = tasks.run((s) => device.run(s));
    const body = decodeReading(Buffer.from(await worker.nextLine("the request at the Python worker"), "hex"));
    expect(body).toMatchObject({ ok: true, value: { device: "py-dev", seq: 1 } });
    await withDeadline(delivered, WAIT_MS, "the device done");
    expect(device.delivered).toBe(1);
  });

  it("our worker behind a pyzmq queue: READY first, then the reply in the request's envelope", async () => {
    const reading = { v: 1, device: "dev-9", seq: 4, takenAt: 0, sensor: "t", value: 2, unit: "C" };
    const queue = python.start(PY_QUEUE, [encodeReading(reading).toString("hex")]);
    const endpoint = await queue.nextLine("the Python queue's endpoint");
    const worker = new IngestWorker(
      { id: "ours", queue: endpoint, heartbeatMs: 1000, liveness: 3, backoffInitMs: 1000, backoffMaxMs: 32_000, delayMs: 0 },
      new ReadingStore(join(tmp, "store")),
      log,
    );
    void tasks.run((s) => worker.run(s));
    expect(await queue.nextLine("READY from our worker")).toBe("ready");
    const [client, empty, ack] = (await queue.nextLine("the reply")).split(" ");
    expect(Buffer.from(client as string, "hex").toString()).toBe("client-7");
    expect(empty).toBe("");
    expect(decodeAck(Buffer.from(ack as string, "hex"))).toMatchObject({ ok: true, value: { device: "dev-9", seq: 4, status: "stored" } });
  });
});
