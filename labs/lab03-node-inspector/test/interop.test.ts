// A REQ client written with pyzmq (libzmq) against our agent: the wire format alone is enough.
// Python does the ZeroMQ part; the request and reply bodies are built and checked here.
import { hasPythonMsgpack, hasPyzmq, PythonPeers, Tasks, testLogger } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAgent } from "../internal/node-agent.ts";
import { decodeReply, type Reply } from "../internal/protocol.ts";

const log = testLogger("lab03");

// Sends each request (hex) on one REQ socket with a receive timeout, prints each reply as hex.
const PY_REQ = `
import sys, zmq
req = zmq.Context.instance().socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0)
req.setsockopt(zmq.RCVTIMEO, 5000)
req.connect(sys.argv[1])
for body in sys.argv[2:]:
    req.send(bytes.fromhex(body))
    print(req.recv().hex(), flush=True)
`;

/** A reply the Python peer printed as hex, decoded. */
function replyOf(hex: string): Reply {
  const decoded = decodeReply([Buffer.from(hex, "hex")]);
  if (decoded.kind !== "reply") throw new Error(decoded.reason);
  return decoded.reply;
}

const tasks = new Tasks();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

// Python's msgpack packs an int of 2**32 or more as uint64, and a float always as float64; this
// script also forces uint64 for small values (0xcf), as other MessagePack libraries may send them.
const PY_NUMBERS = `
import sys, struct, zmq, msgpack
def u64(n): return b"\\xcf" + struct.pack(">Q", n)
def f64(x): return b"\\xcb" + struct.pack(">d", x)
def raw_map(pairs): return bytes([0x80 | len(pairs)]) + b"".join(msgpack.packb(k) + v for k, v in pairs)
requests = [
    raw_map([("v", u64(1)), ("id", msgpack.packb("u64")), ("cmd", msgpack.packb("ps")),
             ("args", raw_map([("limit", u64(3)), ("sort", msgpack.packb("mem"))]))]),
    raw_map([("v", f64(1.0)), ("id", msgpack.packb("f64")), ("cmd", msgpack.packb("ps")),
             ("args", raw_map([("limit", f64(2.0))]))]),
    msgpack.packb({"v": 1, "id": "huge", "cmd": "ps", "args": {"limit": 2**40}}),
    msgpack.packb({"v": 1, "id": "beyond", "cmd": "ps", "args": {"limit": 2**64 - 1}}),
    msgpack.packb({"v": 1, "id": "after", "cmd": "uptime"}),
]
req = zmq.Context.instance().socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0)
req.setsockopt(zmq.RCVTIMEO, 5000)
req.connect(sys.argv[1])
for body in requests:
    req.send(body)
    print(req.recv().hex(), flush=True)
`;

describe.skipIf(!hasPyzmq())("interop with pyzmq (libzmq)", () => {
  it("a pyzmq REQ client gets answers, and an error reply for garbage, from our REP agent", async () => {
    const agent = new NodeAgent({ id: "interop", bind: "tcp://127.0.0.1:*" }, log);
    await agent.bind();
    void tasks.run((s) => agent.run(s));
    const requests = [pack({ v: 1, id: "py-1", cmd: "info" }), Buffer.from("garbage"), pack({ v: 1, id: "py-2", cmd: "load" })];
    const py = python.start(PY_REQ, [agent.endpoint, ...requests.map((r) => r.toString("hex"))]);
    const replies = [];
    for (let i = 0; i < requests.length; i++) {
      replies.push(replyOf(await py.nextLine(`reply ${i + 1}`)));
    }
    expect(replies[0]).toMatchObject({ id: "py-1", ok: true, result: { agent: "interop" } });
    expect(replies[1]).toMatchObject({ id: null, ok: false, error: { code: "bad-request" } });
    expect(replies[2]).toMatchObject({ id: "py-2", ok: true });
  });

  it.skipIf(!hasPythonMsgpack())("takes numbers from Python's msgpack as uint64 and as float (needs python3-msgpack)", async () => {
    const agent = new NodeAgent({ id: "interop", bind: "tcp://127.0.0.1:*" }, log);
    await agent.bind();
    void tasks.run((s) => agent.run(s));
    const py = python.start(PY_NUMBERS, [agent.endpoint]);
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(replyOf(await py.nextLine(`reply ${i + 1}`)));
    expect(replies[0]).toMatchObject({ id: "u64", ok: true, result: { sortedBy: "mem" } });
    expect((replies[0] as { result: { processes: unknown[] } }).result.processes).toHaveLength(3);
    expect(replies[1]).toMatchObject({ id: "f64", ok: true, result: { sortedBy: "cpu" } });
    expect((replies[1] as { result: { processes: unknown[] } }).result.processes).toHaveLength(2);
    // A limit far out of range is the request's fault: bad-args, with its id.
    expect(replies[2]).toMatchObject({ id: "huge", ok: false, error: { code: "bad-args" } });
    // Beyond 2**53 a number is not exact: the whole request is refused, and the agent serves on.
    expect(replies[3]).toMatchObject({ id: null, ok: false, error: { code: "bad-request" } });
    expect(replies[4]).toMatchObject({ id: "after", ok: true });
  });
});
