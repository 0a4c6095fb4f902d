// MDP interop with pyzmq peers written here from RFC 7, in every pairing: a pyzmq worker behind
// our broker serving our client, our worker (and client) behind a pyzmq broker, a pyzmq client
// against our broker.
import { ANY_LOOPBACK_TCP, freeTcpEndpoint, hasPyzmq, PythonPeers, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MdpClient } from "../internal/client.ts";
import { MajordomoBroker } from "../internal/majordomo-broker.ts";
import { MdpWorker } from "../internal/worker.ts";
import { DEADLINE_MS } from "./peers.ts";

const log = testLogger("lab12");
const HB = 100;
const tasks = new Tasks();
const python = new PythonPeers();
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  python.killAll();
  await tasks.stopAll();
});

/** Liveness 20 (2 s): the peers are other processes, and a stall of either on a loaded machine must not
 * pass for a dead worker or broker (that would add a DISCONNECT the tests do not expect). */
const LIVENESS = 20;

async function startBroker(requestExpiryMs = 10_000) {
  const broker = new MajordomoBroker(
    { endpoint: ANY_LOOPBACK_TCP, heartbeatMs: HB, liveness: LIVENESS, requestExpiryMs, maxWaiting: 100 },
    log,
  );
  await broker.bind();
  void tasks.run((s) => broker.run(s));
  return broker;
}

function client(endpoint: string) {
  const c = new MdpClient({ broker: endpoint, timeoutMs: 5000, retries: 2 }, log);
  closers.push(() => c.close());
  return c;
}

function ourWorker(endpoint: string, service: string, liveness = LIVENESS) {
  const worker = new MdpWorker({ broker: endpoint, service, heartbeatMs: HB, liveness, reconnectMs: 100 }, log);
  void tasks.run((s) => worker.run(s, async (body) => body.map((b) => Buffer.from(`ts:${b}`))));
  return worker;
}

/** A worker written from RFC 7 with pyzmq: DEALER, READY, REPLY per REQUEST, HEARTBEAT every interval. */
const PY_WORKER = `
import sys, time, zmq
endpoint, service, hb = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3]) / 1000
w = zmq.Context.instance().socket(zmq.DEALER)
w.setsockopt(zmq.LINGER, 0)
w.connect(endpoint)
w.send_multipart([b"", b"MDPW01", b"\\x01", service])
print("ready", flush=True)
next_hb = time.time() + hb
while True:
    if w.poll(int(hb * 1000)):
        msg = w.recv_multipart()
        assert msg[0] == b"" and msg[1] == b"MDPW01", msg
        if msg[2] == b"\\x02":
            client, empty, body = msg[3], msg[4], msg[5:]
            assert empty == b"" and len(body) >= 1, msg
            w.send_multipart([b"", b"MDPW01", b"\\x03", client, b""] + [b"py:" + f for f in body])
            print("served", b"|".join(body).decode(), flush=True)
        elif msg[2] == b"\\x05":
            print("disconnected", flush=True)
            break
    if time.time() >= next_hb:
        w.send_multipart([b"", b"MDPW01", b"\\x04"])
        next_hb = time.time() + hb
`;

/**
 * A broker written from RFC 7 with pyzmq (the Guide's mdbroker, reduced): one ROUTER, workers by
 * service, requests queued per service, HEARTBEAT to workers, DISCONNECT for a command from a
 * worker it does not know, mmi.service. Prints "worker <service>" on each READY. Its arguments: the
 * endpoint, the heartbeat in ms, and the liveness (heartbeats of silence before a worker is forgotten).
 */
const PY_BROKER = `
import sys, time, zmq
endpoint, hb, liveness = sys.argv[1], float(sys.argv[2]) / 1000, int(sys.argv[3])
s = zmq.Context.instance().socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 0)
s.bind(endpoint)
print("bound", flush=True)
workers, idle, queue = {}, {}, {}
def dispatch(service):
    while queue.get(service) and idle.get(service):
        wid = idle[service].pop(0)
        client, body = queue[service].pop(0)
        s.send_multipart([wid, b"", b"MDPW01", b"\\x02", client, b""] + body)
def remove(wid):
    service = workers.pop(wid)["service"]
    if wid in idle.get(service, []): idle[service].remove(wid)
next_hb = time.time() + hb
while True:
    if s.poll(int(hb * 1000)):
        msg = s.recv_multipart()
        sender, empty, header = msg[0], msg[1], msg[2]
        assert empty == b"", msg
        if header == b"MDPC01":
            service, body = msg[3], msg[4:]
            if service == b"mmi.service":
                found = any(w["service"] == body[0] for w in workers.values())
                s.send_multipart([sender, b"", b"MDPC01", service, b"200" if found else b"404"])
            else:
                queue.setdefault(service, []).append((sender, body))
                dispatch(service)
        elif header == b"MDPW01":
            cmd = msg[3]
            if cmd == b"\\x01" and sender not in workers and len(msg) == 5:
                workers[sender] = {"service": msg[4], "expiry": time.time() + liveness * hb}
                idle.setdefault(msg[4], []).append(sender)
                print("worker", msg[4].decode(), flush=True)
                dispatch(msg[4])
            elif cmd == b"\\x05":
                if sender in workers: remove(sender)
            elif sender not in workers or cmd == b"\\x01":
                if sender in workers: remove(sender)
                s.send_multipart([sender, b"", b"MDPW01", b"\\x05"])
            elif cmd == b"\\x03":
                client, empty, body = msg[4], msg[5], msg[6:]
                service = workers[sender]["service"]
                s.send_multipart([client, b"", b"MDPC01", service] + body)
                workers[sender]["expiry"] = time.time() + liveness * hb
                idle[service].append(sender)
                dispatch(service)
            elif cmd == b"\\x04":
                workers[sender]["expiry"] = time.time() + liveness * hb
    if time.time() >= next_hb:
        for wid in list(workers):
            if workers[wid]["expiry"] < time.time(): remove(wid)
            else: s.send_multipart([wid, b"", b"MDPW01", b"\\x04"])
        next_hb = time.time() + hb
`;

/** A client written from RFC 7 with pyzmq: a REQ socket, so frame 0 is made by REQ. */
const PY_CLIENT = `
import sys, zmq
c = zmq.Context.instance().socket(zmq.REQ)
c.setsockopt(zmq.LINGER, 0)
c.setsockopt(zmq.RCVTIMEO, 10000)
c.connect(sys.argv[1])
for request in ([b"mmi.service", b"ts.echo"], [b"mmi.service", b"nobody"], [b"mmi.version", b"x"], [b"ts.echo", b"a", b"b"], [b"nobody", b"x"]):
    c.send_multipart([b"MDPC01"] + request)
    print(" ".join(f.decode() for f in c.recv_multipart()), flush=True)
`;

describe.skipIf(!hasPyzmq())("MDP interop with pyzmq (python3-zmq needed)", () => {
  it("a pyzmq worker behind our broker serves our client", async () => {
    const broker = await startBroker();
    const worker = python.start(PY_WORKER, [broker.endpoints.endpoint, "py.echo", String(HB)]);
    expect(await worker.nextLine("READY sent")).toBe("ready");
    await waitUntil(() => broker.workerCount("py.echo") === 1, { timeoutMs: DEADLINE_MS, what: "the pyzmq worker registered" });
    const c = client(broker.endpoints.endpoint);
    expect((await c.request("py.echo", [Buffer.from("hello"), Buffer.from("world")])).map(String)).toEqual(["py:hello", "py:world"]);
    expect(await worker.nextLine("served")).toBe("served hello|world");
    // It heartbeats as the RFC says, so it stays registered past the liveness window (2 s: 20 beats).
    await waitUntil(() => broker.snapshot().counts.requests === 1 && broker.loop.received > 2 * LIVENESS, {
      timeoutMs: DEADLINE_MS,
      what: "heartbeats",
    });
    expect(broker.workerCount("py.echo")).toBe(1);
    expect(broker.counts.violations).toBe(0);
  });

  it("our worker and our client behind a pyzmq broker; our worker registers again when a restarted pyzmq broker DISCONNECTs it", async () => {
    const endpoint = await freeTcpEndpoint();
    let pyBroker = python.start(PY_BROKER, [endpoint, String(HB), String(LIVENESS)]);
    expect(await pyBroker.nextLine("bound")).toBe("bound");
    // Liveness 100 × 100 ms: within this test the worker re-registers only on a DISCONNECT.
    const worker = ourWorker(endpoint, "ts.echo", 100);
    expect(await pyBroker.nextLine("our READY")).toBe("worker ts.echo");
    const c = client(endpoint);
    expect((await c.request("ts.echo", [Buffer.from("x"), Buffer.from("y")])).map(String)).toEqual(["ts:x", "ts:y"]);
    expect((await c.request("mmi.service", [Buffer.from("ts.echo")])).map(String)).toEqual(["200"]);
    // Restart the pyzmq broker on the same endpoint: it does not know our worker, answers DISCONNECT.
    pyBroker.kill();
    await new Promise((resolve) => pyBroker.child.once("exit", resolve));
    pyBroker = python.start(PY_BROKER, [endpoint, String(HB), String(LIVENESS)]);
    expect(await pyBroker.nextLine("bound again")).toBe("bound");
    expect(await pyBroker.nextLine("our READY again")).toBe("worker ts.echo");
    expect(worker.stats).toMatchObject({ disconnects: 1, reconnects: 1 });
    expect((await c.request("ts.echo", [Buffer.from("z")])).map(String)).toEqual(["ts:z"]);
  });

  it("a pyzmq REQ client against our broker: MMI answers, a reply from our worker, the 504 error reply", async () => {
    const broker = await startBroker(300);
    ourWorker(broker.endpoints.endpoint, "ts.echo");
    await waitUntil(() => broker.workerCount("ts.echo") === 1, { timeoutMs: DEADLINE_MS, what: "our worker registered" });
    const c = python.start(PY_CLIENT, [broker.endpoints.endpoint]);
    expect(await c.nextLine("mmi.service found")).toBe("MDPC01 mmi.service 200");
    expect(await c.nextLine("mmi.service not found")).toBe("MDPC01 mmi.service 404");
    expect(await c.nextLine("mmi.version")).toBe("MDPC01 mmi.version 501");
    expect(await c.nextLine("echo")).toBe("MDPC01 ts.echo ts:a ts:b");
    expect(await c.nextLine("expired")).toMatch(
      /^MDPC01 nobody mmi\.error 504 no worker of service "nobody" took the request within 300 ms$/,
    );
  });
});
