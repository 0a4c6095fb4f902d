// Interoperability with a second ZeroMQ implementation: pyzmq on libzmq, talking to our agent and
// dashboard over TCP. Python does only the ZeroMQ side (sockets, frames, subscriptions); the frame
// bytes are checked and built here, so the test needs no MessagePack library in Python.
import { hasPyzmq, PythonPeers, Tasks } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MonitorAgent } from "../internal/agent.ts";
import { HostSampler } from "../internal/metrics.ts";
import { decodeHeartbeat, encodeHeartbeat } from "../internal/protocol.ts";
import { DashboardUnderTest, heartbeat, testLog } from "./fixtures.ts";

// A pyzmq SUB: connects to every endpoint given, subscribes to one prefix, prints N messages as hex.
const PY_SUB = `
import sys, zmq
prefix, count, endpoints = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sub = zmq.Context.instance().socket(zmq.SUB)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
for e in endpoints: sub.connect(e)
print("subscribed", flush=True)
for _ in range(count):
    print(" ".join(f.hex() for f in sub.recv_multipart()), flush=True)
`;

// A pyzmq PUB: binds, prints its endpoint, and sends the frames given as hex every 50 ms.
const PY_PUB = `
import sys, time, zmq
frames = [bytes.fromhex(h) for h in sys.argv[1:]]
pub = zmq.Context.instance().socket(zmq.PUB)
pub.setsockopt(zmq.LINGER, 0)
pub.bind("tcp://127.0.0.1:*")
print(pub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
while True:
    pub.send_multipart(frames)
    time.sleep(0.05)
`;

const python = new PythonPeers();
const tasks = new Tasks();
const dashboards: DashboardUnderTest[] = [];
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
  for (const d of dashboards.splice(0)) await d.stop();
});

describe.skipIf(!hasPyzmq())("interop with pyzmq (libzmq)", () => {
  it("a pyzmq SUB filters our agents' heartbeats by rack prefix: rack1 only, never rack10", async () => {
    const agents = [];
    for (const [id, rack] of [
      ["n1", "rack1"],
      ["n10", "rack10"],
    ] as const) {
      const agent = new MonitorAgent({ id, rack, bind: "tcp://127.0.0.1:*", intervalMs: 50, simulate: "none" }, new HostSampler(), testLog);
      await agent.bind();
      void tasks.run((s) => agent.run(s));
      agents.push(agent);
    }
    const sub = python.start(PY_SUB, ["hb.ok.rack1.", "3", ...agents.map((a) => a.endpoint)]);
    expect(await sub.nextLine("the subscription")).toBe("subscribed");
    for (let i = 0; i < 3; i++) {
      const frames = (await sub.nextLine(`message ${i + 1}`)).split(" ").map((h) => Buffer.from(h, "hex"));
      const decoded = decodeHeartbeat(frames);
      if (!decoded.ok) throw new Error(decoded.reason);
      expect(decoded.heartbeat).toMatchObject({ agent: "n1", rack: "rack1", level: "ok" });
    }
  });

  it("our dashboard tracks an agent written with pyzmq", async () => {
    const frames = encodeHeartbeat(heartbeat({ agent: "py-1", rack: "rack7", intervalMs: 50 }));
    const pub = python.start(
      PY_PUB,
      frames.map((f) => Buffer.from(f).toString("hex")),
    );
    const endpoint = await pub.nextLine("the pyzmq endpoint");
    const dashboard = new DashboardUnderTest({ connect: [endpoint], racks: ["rack7"] });
    dashboards.push(dashboard);
    await dashboard.until(() => dashboard.has("joined", "py-1"), "the pyzmq agent joining");
    expect(dashboard.malformed).toEqual([]);
  });
});
