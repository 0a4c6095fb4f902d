// libzmq's own steerable proxy (pyzmq's zmq.proxy_steerable, run by /usr/bin/python3) side by side
// with ours: the same traffic, the same STATISTICS; and Python decodes ours as it decodes libzmq's.
import { freeTcpEndpoints, hasPyzmq, PythonPeers, SocketJar, Tasks, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Request } from "zeromq";
import { decodeStatistics, type ProxyStatistics } from "../internal/protocol.ts";
import { command, echoWorker, startProxy, WAIT_MS } from "./helpers.ts";

const tasks = new Tasks();
const jar = new SocketJar();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  jar.closeAll();
  await tasks.stopAll();
});

/** libzmq's zmq_proxy_steerable: ROUTER front, DEALER back, REP control, as the proxy is built. */
const LIBZMQ_PROXY = `
import sys, zmq
ctx = zmq.Context.instance()
front, back, control = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER), ctx.socket(zmq.REP)
for s in (front, back, control): s.setsockopt(zmq.LINGER, 0)
front.bind(sys.argv[1]); back.bind(sys.argv[2]); control.bind(sys.argv[3])
print("ready", zmq.zmq_version(), flush=True)
zmq.proxy_steerable(front, back, None, control)
print("terminated", flush=True)
`;

/** A Python REQ asking a control socket for STATISTICS, decoding the 8 frames as libzmq's users do. */
const PY_STATISTICS = `
import sys, struct, zmq
req = zmq.Context.instance().socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0); req.setsockopt(zmq.RCVTIMEO, 10000)
req.connect(sys.argv[1])
req.send(b"STATISTICS")
frames = req.recv_multipart()
print(len(frames), " ".join(str(struct.unpack("<Q", f)[0]) for f in frames), flush=True)
`;

/** The same traffic for both: REQ clients with fixed ids, bodies of known sizes, an echo worker. */
async function traffic(front: string, back: string): Promise<ProxyStatistics> {
  echoWorker(jar, back);
  const counted: ProxyStatistics = {
    frontMsgsIn: 0,
    frontBytesIn: 0,
    frontMsgsOut: 0,
    frontBytesOut: 0,
    backMsgsIn: 0,
    backBytesIn: 0,
    backMsgsOut: 0,
    backBytesOut: 0,
  };
  for (const id of ["app-1", "app-22"]) {
    const req = jar.add(new Request({ routingId: id }));
    req.connect(front);
    for (let i = 0; i < 15; i++) {
      const body = Buffer.alloc(1 + i * 101, 0x41 + i);
      await req.send(body);
      // [id, "", body] in, and out at the back; [id, "", body, "echo"] back, and out at the front.
      // libzmq 4.3 counts a multipart message once, and its bytes are all its frames'.
      counted.frontMsgsIn += 1;
      counted.frontBytesIn += id.length + body.length;
      counted.backMsgsIn += 1;
      counted.backBytesIn += id.length + body.length + 4;
      // REQ takes a reply of [body, "echo"]: the envelope was routed back byte for byte.
      const reply = await withDeadline(req.receive(), WAIT_MS, "the echo");
      expect(reply).toEqual([body, Buffer.from("echo")]);
    }
  }
  counted.backMsgsOut = counted.frontMsgsIn;
  counted.backBytesOut = counted.frontBytesIn;
  counted.frontMsgsOut = counted.backMsgsIn;
  counted.frontBytesOut = counted.backBytesIn;
  return counted;
}

describe.skipIf(!hasPyzmq())("libzmq's zmq_proxy_steerable through pyzmq (python3-zmq needed)", () => {
  it("the same traffic gives the same 8 STATISTICS counters from libzmq's proxy and ours", async () => {
    const [front, back, control] = (await freeTcpEndpoints(3)) as [string, string, string];
    const libzmq = python.start(LIBZMQ_PROXY, [front, back, control]);
    expect(await libzmq.nextLine("the proxy ready")).toMatch(/^ready 4\./);
    const countedThere = await traffic(front, back);
    const theirs = decodeStatistics(await command(jar, control, "STATISTICS"));

    const { proxy } = await startProxy(tasks);
    const countedHere = await traffic(proxy.endpoints.front, proxy.endpoints.back);
    const ours = decodeStatistics(await command(jar, proxy.endpoints.control, "STATISTICS"));

    expect(countedHere).toEqual(countedThere);
    expect(theirs).toEqual({ ok: true, value: countedThere });
    expect(ours).toEqual(theirs);

    // libzmq 4.3 ends on TERMINATE without answering a REP control socket (its master branch, and
    // our proxy, answer with an empty frame; 4.3 also leaves PAUSE and RESUME unanswered and aborts
    // on an unknown command: see the README).
    const req = jar.add(new Request());
    req.connect(control);
    await req.send("TERMINATE");
    expect(await libzmq.nextLine("the proxy to end")).toBe("terminated");
    expect(await command(jar, proxy.endpoints.control, "TERMINATE")).toEqual([Buffer.alloc(0)]);
  });

  it("Python decodes our STATISTICS with struct '<Q', as it decodes libzmq's", async () => {
    const { proxy } = await startProxy(tasks);
    const counted = await traffic(proxy.endpoints.front, proxy.endpoints.back);
    const py = python.start(PY_STATISTICS, [proxy.endpoints.control]);
    const line = await py.nextLine("the decoded STATISTICS");
    expect(line).toBe(
      `8 ${[
        counted.frontMsgsIn,
        counted.frontBytesIn,
        counted.frontMsgsOut,
        counted.frontBytesOut,
        counted.backMsgsIn,
        counted.backBytesIn,
        counted.backMsgsOut,
        counted.backBytesOut,
      ].join(" ")}`,
    );
  });
});
