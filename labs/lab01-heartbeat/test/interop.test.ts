// Interoperability with a second ZeroMQ implementation: pyzmq on libzmq, talking to our agent and
// dashboard over TCP. The first tests use Python for the ZeroMQ side only (frames built and checked
// here); the last one packs heartbeats with Python's own msgpack, as a Python agent would.
import { hasPythonMsgpack, hasPyzmq, PythonPeers, Tasks } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { HostSampler } from "../internal/metrics.ts";
import { MonitorAgent } from "../internal/monitor-agent.ts";
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

// A Python agent: heartbeats packed by Python's msgpack, which writes an int at or above 2**32
// (a millisecond timestamp, a memory size) as uint64. "float" sends those numbers as floats instead.
// Prints the MessagePack type byte of sentAt, then its endpoint.
const PY_AGENT = `
import sys, time, zmq, msgpack
agent, kind = sys.argv[1], sys.argv[2]
number = (lambda n: n) if kind == "uint64" else float
pub = zmq.Context.instance().socket(zmq.PUB)
pub.setsockopt(zmq.LINGER, 0)
pub.bind("tcp://127.0.0.1:*")
print("sentAt", msgpack.packb(number(int(time.time() * 1000)))[0], flush=True)
print(pub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
seq = 0
while True:
    seq += 1
    body = {"v": 1, "agent": agent, "rack": "rack7", "incarnation": "py", "seq": seq,
            "sentAt": number(int(time.time() * 1000)), "intervalMs": number(50), "level": "ok",
            "metrics": {"cpu": 0.25, "memUsedBytes": number(6 * 2**30), "memTotalBytes": number(16 * 2**30),
                        "load1": 0.5, "load5": 0.4, "load15": 0.3, "uptimeSec": number(86400)}}
    pub.send_multipart([f"hb.ok.rack7.{agent}.".encode(), msgpack.packb(body)])
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
    // Calm figures: the real host's, on a busy CI machine, would send these beats on hb.warn.*, past the filter.
    class CalmHost extends HostSampler {
      override sample() {
        return { ...super.sample(), cpu: 0.1, memUsedBytes: 1, memTotalBytes: 100 };
      }
    }
    const agents = [];
    for (const [id, rack] of [
      ["n1", "rack1"],
      ["n10", "rack10"],
    ] as const) {
      const agent = new MonitorAgent({ id, rack, bind: "tcp://127.0.0.1:*", intervalMs: 50, simulate: "none" }, new CalmHost(), testLog);
      await agent.bind();
      void tasks.run((s) => agent.run(s));
      agents.push(agent);
    }
    const sub = python.start(PY_SUB, ["hb.ok.rack1.", "3", ...agents.map((a) => a.endpoint)]);
    expect(await sub.nextLine("the subscription")).toBe("subscribed");
    for (let i = 0; i < 3; i++) {
      const frames = (await sub.nextLine(`message ${i + 1}`)).split(" ").map((h) => Buffer.from(h, "hex"));
      const decoded = decodeHeartbeat(frames);
      if (decoded.kind !== "heartbeat") throw new Error(decoded.reason);
      // The level in the body may differ: a beat that changes level also goes out on the old level's topic.
      expect(decoded.heartbeat).toMatchObject({ agent: "n1", rack: "rack1" });
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

describe.skipIf(!hasPythonMsgpack())("a Python agent whose numbers Python's msgpack packs (needs python3-msgpack)", () => {
  it.each([
    ["uint64", 0xcf],
    ["float", 0xcb],
  ])("is tracked when its timestamps and memory sizes arrive as %s", async (kind, typeByte) => {
    const agent = python.start(PY_AGENT, [`py-${kind}`, kind]);
    expect(await agent.nextLine("the type of sentAt")).toBe(`sentAt ${typeByte}`);
    const endpoint = await agent.nextLine("the Python agent's endpoint");
    const dashboard = new DashboardUnderTest({ connect: [endpoint] });
    dashboards.push(dashboard);
    await dashboard.until(() => dashboard.has("joined", `py-${kind}`), `the ${kind} agent joining`);
    expect(dashboard.malformed).toEqual([]);
    const record = dashboard.dashboard.tracker.agents()[0];
    expect(record).toMatchObject({ agent: `py-${kind}`, intervalMs: 50, metrics: { memTotalBytes: 16 * 2 ** 30 } });
  });
});
