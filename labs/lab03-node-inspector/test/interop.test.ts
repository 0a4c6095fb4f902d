// A REQ client written with pyzmq (libzmq) against our agent: the wire format alone is enough.
// Python does the ZeroMQ part; the request and reply bodies are built and checked here.
import { createLogger } from "@zlabs/kit";
import { hasPyzmq, PythonPeer } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAgent } from "../internal/agent.ts";
import { decodeReply } from "../internal/protocol.ts";

const log = createLogger({ lab: "lab03", role: "test", level: process.env.TEST_LOG_LEVEL ?? "silent" });

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

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0)) await f();
});

describe.skipIf(!hasPyzmq())("interop with pyzmq (libzmq)", () => {
  it("a pyzmq REQ client gets answers, and an error reply for garbage, from our REP agent", async () => {
    const agent = new NodeAgent({ id: "interop", bind: "tcp://127.0.0.1:*" }, log);
    await agent.bind();
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    cleanups.push(async () => {
      controller.abort();
      await running;
    });
    const requests = [pack({ v: 1, id: "py-1", cmd: "info" }), Buffer.from("garbage"), pack({ v: 1, id: "py-2", cmd: "load" })];
    const py = new PythonPeer(PY_REQ, [agent.endpoint, ...requests.map((r) => r.toString("hex"))]);
    cleanups.push(() => py.kill());
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
