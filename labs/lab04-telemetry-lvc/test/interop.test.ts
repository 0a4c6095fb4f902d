// Interoperability with a second ZeroMQ implementation: pyzmq on libzmq, with headers packed by
// Python's own msgpack, as a Python telemetry source would send them. Python's msgpack writes an
// int at or above 2**32 (a millisecond timestamp) as uint64.
import { ANY_LOOPBACK_TCP, hasPythonMsgpack, PythonPeers, SocketJar, Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Subscriber } from "zeromq";
import { LvcBroker } from "../internal/lvc-broker.ts";
import { decodePayload, decodeSample } from "../internal/protocol.ts";

// A Python source: binds a PUB, prints the MessagePack type byte of ts and its endpoint, then
// publishes one sample every 50 ms with ts (and seq) as an int ("uint64") or as a float.
const PY_SOURCE = `
import sys, time, struct, zmq, msgpack
topic, kind = sys.argv[1], sys.argv[2]
number = (lambda n: n) if kind == "uint64" else float
pub = zmq.Context.instance().socket(zmq.PUB)
pub.setsockopt(zmq.LINGER, 0)
pub.bind("tcp://127.0.0.1:*")
print("ts", msgpack.packb(number(int(time.time() * 1000)))[0], flush=True)
print(pub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
seq = 0
while True:
    seq += 1
    header = {"v": 1, "source": "py", "seq": seq, "ts": number(int(time.time() * 1000)), "units": "bar",
              "schema": "f64le", "count": 2}
    pub.send_multipart([topic.encode(), msgpack.packb(header), struct.pack("<2d", 6.5, float(seq))])
    time.sleep(0.05)
`;

const log = testLogger("lab04");
const python = new PythonPeers();
const tasks = new Tasks();
const jar = new SocketJar();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
  jar.closeAll();
});

describe.skipIf(!hasPythonMsgpack())("a Python source whose headers Python's msgpack packs (needs python3-zmq and python3-msgpack)", () => {
  it.each([
    ["uint64", 0xcf],
    ["float", 0xcb],
  ])("is cached and forwarded when ts arrives as %s", async (kind, typeByte) => {
    const topic = `py.${kind}.pressure`;
    const source = python.start(PY_SOURCE, [topic, kind]);
    expect(await source.nextLine("the type of ts")).toBe(`ts ${typeByte}`);
    const endpoint = await source.nextLine("the Python source's endpoint");
    const broker = new LvcBroker({ front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, maxTopics: 100, maxAgeMs: 0 }, log, () => {});
    await broker.bind();
    void tasks.run((s) => broker.run(s));
    broker.connectPublisher(endpoint);
    const sub = jar.add(new Subscriber());
    sub.connect(broker.endpoints.back);
    sub.subscribe("py.");
    const frames = await withDeadline(sub.receive(), 10_000, `a ${kind} sample through the broker`);
    const sample = decodeSample(frames);
    if (sample.kind !== "sample") throw new Error(sample.reason);
    expect(sample.topic).toBe(topic);
    expect(sample.header.ts).toBeGreaterThan(1.7e12);
    expect(decodePayload(sample.payload)[0]).toBe(6.5);
    expect(broker.malformed).toBe(0);
  });
});
