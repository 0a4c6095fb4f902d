// A collector written with pyzmq and Python's msgpack against our parser and writer: its START
// and LINES headers carry their numbers as uint64 (as Python packs 2**32 and more, and as other
// MessagePack libraries may pack any integer) and as float, and the batch is stored all the same.
import { join } from "node:path";
import { hasPythonMsgpack, PythonPeers, Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { LogParser } from "../internal/log-parser.ts";
import { decodeCollectorBus } from "../internal/protocol.ts";
import { StorageWriter } from "../internal/storage-writer.ts";
import { exactlyOnce, KEY, scratch, storedSeqs } from "./fixtures.ts";

const log = testLogger("lab02");
const WAIT_MS = 20_000;
const tmp = scratch();
const tasks = new Tasks();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});
afterAll(tmp.remove);

/**
 * argv: the writer's PULL and PUB. Binds a PUSH for the parsers and prints its port, sends START
 * until READY names a parser, then three LINES chunks (uint64 numbers, float numbers, and plain
 * small ints), and prints DONE's header as hex.
 */
const PY_COLLECTOR = `
import sys, struct, time, zmq, msgpack
def u64(n): return b"\\xcf" + struct.pack(">Q", n)
def f64(x): return b"\\xcb" + struct.pack(">d", x)
def header(**fields):
    out = bytes([0x80 | len(fields)])
    for k, v in fields.items():
        out += msgpack.packb(k) + (v if isinstance(v, bytes) else msgpack.packb(v))
    return out
ctx = zmq.Context.instance()
work = ctx.socket(zmq.PUSH)
print(work.bind_to_random_port("tcp://127.0.0.1"), flush=True)
control = ctx.socket(zmq.PUSH)
control.connect(sys.argv[1])
bus = ctx.socket(zmq.SUB)
bus.setsockopt(zmq.RCVTIMEO, 500)
bus.connect(sys.argv[2])
for topic in (b"READY", b"DONE"):
    bus.setsockopt(zmq.SUBSCRIBE, topic)
batch = "py-batch"
deadline = time.time() + 15
while time.time() < deadline:
    control.send_multipart([b"START", header(v=u64(1), batch=batch, expected=u64(6), source="python", parsers=u64(1))])
    try:
        cmd, h = bus.recv_multipart()
    except zmq.Again:
        continue
    if cmd == b"READY" and msgpack.unpackb(h)["workers"] >= 1:
        break
work.send_multipart([b"LINES", header(v=u64(1), batch=batch, first=u64(0), count=u64(2)), b"user=alice from 10.0.0.1\\nplain\\n"])
work.send_multipart([b"LINES", header(v=f64(1.0), batch=batch, first=f64(2.0), count=f64(2.0)), b"third\\nfourth\\n"])
work.send_multipart([b"LINES", msgpack.packb({"v": 1, "batch": batch, "first": 4, "count": 2}), b"fifth\\nsixth\\n"])
bus.setsockopt(zmq.RCVTIMEO, 15000)
while True:
    cmd, h = bus.recv_multipart()
    if cmd == b"DONE":
        print(h.hex(), flush=True)
        break
`;

describe.skipIf(!hasPythonMsgpack())("interop with a pyzmq collector (needs python3-zmq and python3-msgpack)", () => {
  it("stores a batch whose START and LINES numbers come as uint64 and as float", async () => {
    const outDir = join(tmp.dir, "py");
    const writer = new StorageWriter(
      {
        bind: "tcp://127.0.0.1:*",
        bus: "tcp://127.0.0.1:*",
        outDir,
        rotateBytes: 1 << 20,
        missingAfterMs: 1000,
        killWorkers: true,
        once: true,
      },
      log,
    );
    await writer.bind();
    const stored = tasks.run((s) => writer.run(s));
    const py = python.start(PY_COLLECTOR, [writer.endpoints.bind, writer.endpoints.bus]);
    const work = `tcp://127.0.0.1:${await py.nextLine("the collector's port")}`;
    const parser = new LogParser(
      { id: "p1", work, results: writer.endpoints.bind, bus: writer.endpoints.bus, parse: true },
      new Pseudonymizer(KEY),
      log,
    );
    const parsed = tasks.run((s) => parser.run(s));
    const done = decodeCollectorBus([Buffer.from("DONE"), Buffer.from(await py.nextLine("DONE"), "hex")]);
    expect(done).toMatchObject({ kind: "done", header: { batch: "py-batch", stored: 6, duplicates: 0 } });
    await withDeadline(Promise.all([stored, parsed]), WAIT_MS, "the writer and the parser to stop");
    expect(exactlyOnce(storedSeqs(outDir), 6)).toEqual({ missing: 0, duplicates: 0 });
    expect(parser.malformed).toBe(0);
    expect(writer.malformed).toBe(0);
  });
});
