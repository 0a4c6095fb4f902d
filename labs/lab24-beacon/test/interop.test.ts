// Foreign peers written in Python from RFC 36 and zyre's layout: beacons from the plain socket
// module (as any ZRE implementation sends them), and a pyzmq CURVE REP device with a key pair from
// our certificate code, discovered and called by our scanner.
import { join } from "node:path";
import { hasPythonMsgpack, hasPyzmq, PythonPeers, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { writeCertificate } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import { afterEach, describe, expect, it } from "vitest";
import { NetworkScanner } from "../internal/network-scanner.ts";
import { SecureDevice } from "../internal/secure-device.ts";
import { deviceConfig, freeUdpPort, scannerConfig, tempDir } from "./helpers.ts";

const log = testLogger("lab24");
const WAIT_MS = 15_000;
const tasks = new Tasks();
const python = new PythonPeers();
const cleanups: (() => void)[] = [];
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
  for (const c of cleanups.splice(0)) c();
});

async function scanner(port: number, pinned: string | undefined) {
  const s = new NetworkScanner(scannerConfig(port, pinned), log);
  await s.start();
  void tasks.run((signal) => s.run(signal));
  return s;
}

/**
 * A ZRE node as RFC 36 describes it: a ROUTER mailbox on an ephemeral port (pyzmq), and beacons
 * from Python's socket module: b"ZRE" + version 1 + uuid + the mailbox port, then port 0 to leave.
 */
const ZRE_NODE = `
import socket, struct, sys, time, uuid, binascii, zmq
port, count = int(sys.argv[1]), int(sys.argv[2])
mailbox = zmq.Context.instance().socket(zmq.ROUTER)
mailbox.setsockopt(zmq.LINGER, 0)
tcp_port = mailbox.bind_to_random_port("tcp://127.0.0.1", min_port=0xC000, max_port=0xFFFF)
me = uuid.uuid4().bytes
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
def beacon(p):
    return b"ZRE\x01" + me + struct.pack(">H", p)
print(binascii.hexlify(me).decode(), tcp_port, flush=True)
for _ in range(count):
    s.sendto(beacon(tcp_port), ("127.255.255.255", port))
    time.sleep(0.1)
s.sendto(beacon(0), ("127.255.255.255", port))
print("left", flush=True)
time.sleep(30)
`;

describe.skipIf(!hasPyzmq())("a pyzmq ZRE node sending v1 beacons (python3-zmq needed)", () => {
  it("is discovered by our scanner, listed as keyless (never contacted), and removed when it sends port 0", async () => {
    const port = await freeUdpPort();
    const s = await scanner(port, undefined);
    const peer = python.start(ZRE_NODE, [String(port), "30"]);
    const [uuid, mailbox] = (await peer.nextLine("the python node's uuid and port")).split(" ") as [string, string];
    const listed = await waitUntil(() => s.list().find((d) => d.label === `${uuid.slice(0, 8)}…`), {
      timeoutMs: WAIT_MS,
      what: "the python node listed",
    });
    expect(listed).toMatchObject({ endpoint: `tcp://127.0.0.1:${mailbox}`, trust: "no key", key: "", presence: "present" });
    expect(await peer.nextLine("the python node's leave")).toBe("left");
    await waitUntil(() => s.list().find((d) => d.label === `${uuid.slice(0, 8)}…` && d.presence === "left"), {
      timeoutMs: WAIT_MS,
      what: "the python node left",
    });
  });

  it("our device hears it as a neighbour (its beacons are valid ZRE)", async () => {
    const port = await freeUdpPort();
    const t = tempDir("interop");
    cleanups.push(t.cleanup);
    const device = new SecureDevice(deviceConfig(port, "ours", t.dir), log);
    await device.start();
    void tasks.run((signal) => device.run(signal));
    python.start(ZRE_NODE, [String(port), "100"]);
    await waitUntil(() => device.snapshot().neighbours === 1, { timeoutMs: WAIT_MS, what: "the python node as a neighbour" });
    expect(device.drops.total).toBe(0);
  });
});

/** A device in pyzmq: a CURVE REP server answering status calls, beaconing ZRE v3 with its key. */
const PY_DEVICE = `
import socket, struct, sys, threading, time, uuid, zmq, zmq.utils.z85, msgpack
port, public, secret = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
ctx = zmq.Context.instance()
rep = ctx.socket(zmq.REP)
rep.setsockopt(zmq.LINGER, 0)
rep.curve_server = True
rep.curve_secretkey = secret
rep.curve_publickey = public
tcp_port = rep.bind_to_random_port("tcp://127.0.0.1")
me = uuid.uuid4().bytes
key = zmq.utils.z85.decode(public)
def beacons():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    while True:
        s.sendto(b"ZRE\\x03" + me + struct.pack(">H", tcp_port) + key, ("127.255.255.255", port))
        time.sleep(0.1)
threading.Thread(target=beacons, daemon=True).start()
print(tcp_port, flush=True)
served = 0
while True:
    request = msgpack.unpackb(rep.recv())
    served += 1
    rep.send(msgpack.packb({"v": 1, "seq": request["seq"], "name": "py-device", "uptimeMs": 1, "served": served}))
`;

describe.skipIf(!hasPyzmq() || !hasPythonMsgpack())("a pyzmq CURVE device (python3-zmq and python3-msgpack needed)", () => {
  it("beaconing ZRE v3 with a pinned key: our scanner completes the CURVE handshake and gets its status", async () => {
    const port = await freeUdpPort();
    const t = tempDir("interop");
    cleanups.push(t.cleanup);
    const pair = generateKeyPair();
    await writeCertificate(join(t.dir, "py-device"), pair, { name: "py-device" });
    const s = await scanner(port, t.dir);
    const device = python.start(PY_DEVICE, [String(port), pair.publicKey, pair.secretKey]);
    const tcpPort = await device.nextLine("the python device's port");
    const row = await waitUntil(() => s.list().find((d) => d.label === "py-device" && d.replies >= 2), {
      timeoutMs: WAIT_MS,
      what: "the python device named over CURVE",
    });
    expect(row).toMatchObject({ trust: "pinned", secure: true, endpoint: `tcp://127.0.0.1:${tcpPort}` });
  });
});
