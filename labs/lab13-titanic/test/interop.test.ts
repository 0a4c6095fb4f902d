// pyzmq peers written in this test from the RFCs (7/MDP, 9/TSP), not from our code: a Python TSP
// client talks to our Titanic through our broker, and the target service is a Python MDP worker
// ("Titanic requires no modifications to workers", RFC 9).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasPyzmq, PythonPeers, Tasks } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startBroker, startTitanic, titanicConfig } from "./helpers.ts";

/** RFC 9 client over RFC 7/Client: a REQ socket, Lazy Pirate (a new socket per attempt). */
const TSP_CLIENT = `
import sys, time, zmq
endpoint = sys.argv[1]
ctx = zmq.Context()
def call(service, *body):
    for attempt in range(5):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send_multipart([b"MDPC01", service.encode()] + list(body))
        if s.poll(3000):
            r = s.recv_multipart()
            s.close()
            assert r[0] == b"MDPC01" and r[1] == service.encode(), r
            return r[2:]
        s.close()
    raise SystemExit("no reply from " + service)
r = call("titanic.request", b"py.echo", b"hello", b"from python")
assert r[0][:3] == b"200" and len(r[1]) == 32, r
uuid = r[1]
print("uuid " + uuid.decode(), flush=True)
first = call("titanic.reply", uuid)[0][:3].decode()
print("first " + first, flush=True)
while True:
    r = call("titanic.reply", uuid)
    if r[0][:3] == b"200":
        break
    assert r[0][:3] == b"300", r
    time.sleep(0.1)
print("reply " + "|".join(f.decode() for f in r[1:]), flush=True)
again = call("titanic.reply", uuid)
print("again " + again[0][:3].decode() + " " + "|".join(f.decode() for f in again[1:]), flush=True)
print("close " + call("titanic.close", uuid)[0][:3].decode(), flush=True)
print("closed-reply " + call("titanic.reply", uuid)[0][:3].decode(), flush=True)
print("bad-uuid " + call("titanic.reply", b"../../../../../../etc/passwd0000")[0][:3].decode(), flush=True)
print("close-unknown " + call("titanic.close", b"0" * 32)[0][:3].decode(), flush=True)
`;

/** RFC 7/Worker: a DEALER that sends READY, answers REQUESTs, heartbeats every 100 ms. */
const MDP_WORKER = `
import sys, zmq
endpoint, service = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
s.send_multipart([b"", b"MDPW01", b"\\x01", service.encode()])
print("ready", flush=True)
while True:
    if s.poll(100):
        f = s.recv_multipart()
        assert f[0] == b"" and f[1] == b"MDPW01", f
        if f[2] == b"\\x02":
            client, body = f[3], f[5:]
            s.send_multipart([b"", b"MDPW01", b"\\x03", client, b""] + [b"echo:" + x for x in body])
        elif f[2] == b"\\x05":
            break
    s.send_multipart([b"", b"MDPW01", b"\\x04"])
`;

const tasks = new Tasks();
const python = new PythonPeers();
const tmp = mkdtempSync(join(tmpdir(), "lab13-interop-"));
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!hasPyzmq())("interop with pyzmq peers written from RFC 7 and RFC 9 (skipped: no pyzmq)", () => {
  it("a Python TSP client: 200 + uuid, 300, the Python worker's reply, the same again, close 200, then 400; bad uuid 400", async () => {
    const broker = await startBroker(tasks);
    startTitanic(tasks, titanicConfig(broker, join(tmp, "titanic")));
    const client = python.start(TSP_CLIENT, [broker]);
    expect(await client.nextLine("the uuid")).toMatch(/^uuid [0-9A-F]{32}$/);
    expect(await client.nextLine("the first reply status")).toBe("first 300");
    const worker = python.start(MDP_WORKER, [broker, "py.echo"]);
    expect(await worker.nextLine("READY sent")).toBe("ready");
    expect(await client.nextLine("the reply")).toBe("reply echo:hello|echo:from python");
    expect(await client.nextLine("the reply again")).toBe("again 200 echo:hello|echo:from python");
    expect(await client.nextLine("close")).toBe("close 200");
    expect(await client.nextLine("reply after close")).toBe("closed-reply 400");
    expect(await client.nextLine("a bad uuid")).toBe("bad-uuid 400");
    expect(await client.nextLine("close of an unknown uuid")).toBe("close-unknown 200");
  });
});
