// A client written with pyzmq and Python's msgpack: numbers as Python sends them (uint64 and float).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, hasPythonMsgpack, PythonPeers, Tasks, testLogger } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ArchivalWorker } from "../internal/archival-worker.ts";
import { Archive } from "../internal/archive.ts";
import { AuditGateway } from "../internal/audit-gateway.ts";

const log = testLogger("lab05");
const tmp = mkdtempSync(join(tmpdir(), "lab05-interop-"));
const tasks = new Tasks();
const python = new PythonPeers();
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

// Python's msgpack packs an int of 2**32 or more (a millisecond timestamp) as uint64, a float as float 64.
const CLIENT = `
import sys, time, zmq, msgpack
c = zmq.Context.instance().socket(zmq.DEALER)
c.setsockopt(zmq.LINGER, 0)
c.setsockopt(zmq.RCVTIMEO, 15000)
c.connect(sys.argv[1])
now = int(time.time() * 1000)
records = [
    {"v": 1, "id": "py-uint64", "at": now, "actor": "alice", "action": "read", "target": "doc-1",
     "details": {"bytes": 2**40, "ratio": 0.5, "ip": "10.0.0.1"}},
    {"v": 1, "id": "py-float", "at": time.time() * 1000, "actor": "bob", "action": "grant", "target": "doc-2",
     "details": {"ms": now}},
]
for i, r in enumerate(records):
    c.send_multipart([b"py-%d" % i, b"AUDIT", msgpack.packb(r)])
    corr, status, body = c.recv_multipart()
    print(corr.decode(), status.decode(), msgpack.unpackb(body).get("result") or msgpack.unpackb(body).get("reason"), flush=True)
`;

describe("a pyzmq client", () => {
  it.skipIf(!hasPythonMsgpack())("has records acknowledged whose numbers are uint64 and float (python3-msgpack needed)", async () => {
    const gateway = new AuditGateway(
      { front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, maxInflight: 10, requestTtlMs: 10_000, clientTtlMs: 30_000 },
      log,
    );
    await gateway.bind();
    void tasks.run((s) => gateway.run(s));
    const store = new Archive(join(tmp, "archive"));
    const archivist = new ArchivalWorker({ id: "a1", gateway: gateway.endpoints.back, delayMs: 0 }, store, log);
    void tasks.run((s) => archivist.run(s));
    const client = python.start(CLIENT, [gateway.endpoints.front]);
    expect(await client.nextLine("the first reply")).toBe("py-0 ACK stored");
    expect(await client.nextLine("the second reply")).toBe("py-1 ACK stored");
    expect(store.keys().sort()).toEqual(["py-float", "py-uint64"]);
  });
});
