// A REQ client written with pyzmq (libzmq) against our agent: the wire format alone is enough.
// Python does the ZeroMQ part; the request and reply bodies are built and checked here.
import { hasPyzmq, PythonPeers, Tasks, testLogger } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAgent } from "../internal/agent.ts";
import { decodeReply } from "../internal/protocol.ts";

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

const tasks = new Tasks();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

describe.skipIf(!hasPyzmq())("interop with pyzmq (libzmq)", () => {
  it("a pyzmq REQ client gets answers, and an error reply for garbage, from our REP agent", async () => {
    const agent = new NodeAgent({ id: "interop", bind: "tcp://127.0.0.1:*" }, log);
    await agent.bind();
    void tasks.run((s) => agent.run(s));
    const requests = [pack({ v: 1, id: "py-1", cmd: "info" }), Buffer.from("garbage"), pack({ v: 1, id: "py-2", cmd: "load" })];
    const py = python.start(PY_REQ, [agent.endpoint, ...requests.map((r) => r.toString("hex"))]);
    const replies = [];
    for (let i = 0; i < requests.length; i++) {
      const decoded = decodeReply([Buffer.from(await py.nextLine(`reply ${i + 1}`), "hex")]);
      if (!decoded.ok) throw new Error(decoded.reason);
      replies.push(decoded.reply);
    }
    expect(replies[0]).toMatchObject({ id: "py-1", ok: true, result: { agent: "interop" } });
    expect(replies[1]).toMatchObject({ id: null, ok: false, error: { code: "bad-request" } });
    expect(replies[2]).toMatchObject({ id: "py-2", ok: true });
  });
});
