// A second implementation on both ends: pyzmq (Debian's python3-zmq on libzmq 4.3.4), its Python
// written here from the README's wire table, with keys from our keygen and from pyzmq's zmq.auth.
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, hasPyzmq, PythonPeers, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runKeygen } from "../internal/keygen.ts";
import { SecureClient } from "../internal/secure-client.ts";
import { SecureServer } from "../internal/secure-server.ts";
import { EICAR, sha256 } from "../internal/threat-intel.ts";
import { keyFolder } from "./helpers.ts";

const log = testLogger("lab19");
const tasks = new Tasks();
const peers = new PythonPeers();
let keys: Awaited<ReturnType<typeof keyFolder>>;

beforeEach(async () => {
  keys = await keyFolder();
});
afterEach(async () => {
  peers.killAll();
  await tasks.stopAll();
  await keys.cleanup();
});

/** A pyzmq REQ client with CURVE, its keys read by zmq.auth.load_certificate from our keygen's files. */
const PY_CLIENT = `
import json, sys, zmq, zmq.auth
endpoint, server_cert, client_cert, digest_hex = sys.argv[1:5]
server_public, _ = zmq.auth.load_certificate(server_cert)
client_public, client_secret = zmq.auth.load_certificate(client_cert + "_secret")
ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.curve_serverkey = server_public
req.curve_publickey = client_public
req.curve_secretkey = client_secret
req.linger = 0
req.rcvtimeo = 10000
req.connect(endpoint)
out = []
for i, digest in enumerate([bytes.fromhex(digest_hex), bytes(32)]):
    req.send_multipart([b"CHECK", b"py%d" % i, digest])
    out.append([f.decode() for f in req.recv_multipart()])
print(json.dumps(out), flush=True)
`;

/** A pyzmq ROUTER with curve_server, its certificate made by zmq.auth.create_certificates, answering as README's table says. */
const PY_SERVER = `
import hashlib, os, sys, zmq, zmq.auth
key_dir, eicar = sys.argv[1], sys.argv[2].encode()
public_file, secret_file = zmq.auth.create_certificates(key_dir, "py-server")
os.chmod(secret_file, 0o600)
public, secret = zmq.auth.load_certificate(secret_file)
bad = {hashlib.sha256(eicar).digest(): b"EICAR-Test-File"}
ctx = zmq.Context()
router = ctx.socket(zmq.ROUTER)
router.curve_server = True
router.curve_secretkey = secret
router.curve_publickey = public
router.linger = 0
port = router.bind_to_random_port("tcp://127.0.0.1")
print("tcp://127.0.0.1:%d %s" % (port, public_file), flush=True)
while True:
    frames = router.recv_multipart()
    rid, rest = frames[0], frames[1:]
    if len(rest) == 4 and rest[0] == b"" and rest[1] == b"CHECK" and len(rest[3]) == 32:
        label = bad.get(rest[3])
        router.send_multipart([rid, b"", b"VERDICT", rest[2], b"malicious" if label else b"clean", label or b""])
        print("answered", flush=True)
`;

describe.skipIf(!hasPyzmq())("interop with pyzmq over CURVE", () => {
  it("a pyzmq CURVE client with keys from our keygen gets its verdicts from our server", async () => {
    await runKeygen(
      { dir: keys.dir, names: ["py-client"], force: false, ifMissing: false, metadata: {}, print: "none" },
      log,
      () => undefined,
    );
    const server = new SecureServer({ bind: ANY_LOOPBACK_TCP, cert: keys.serverCert, certWaitMs: 0, handshakeIntervalMs: 5000 }, log);
    void tasks.run((signal) => server.run(signal));
    const endpoint = await waitUntil(() => server.endpoint, { timeoutMs: 5000, what: "the server to bind" });
    const py = peers.start(PY_CLIENT, [endpoint, keys.serverCert, join(keys.dir, "py-client.key"), sha256(EICAR).toString("hex")]);
    const replies = JSON.parse(await py.nextLine("the Python client's replies", 30_000)) as string[][];
    expect(replies).toEqual([
      ["VERDICT", "py0", "malicious", "EICAR-Test-File"],
      ["VERDICT", "py1", "clean", ""],
    ]);
    expect(server.stats.handshakesOk).toBe(1);
    expect(server.stats.lookups).toBe(2);
  });

  it("our client, reading a certificate pyzmq's zmq.auth wrote, gets its verdicts from a pyzmq CURVE server", async () => {
    const py = peers.start(PY_SERVER, [keys.dir, EICAR]);
    const [endpoint, publicFile] = (await py.nextLine("the Python server's endpoint", 30_000)).split(" ") as [string, string];
    const client = new SecureClient(
      {
        server: endpoint,
        id: "ts-client",
        serverKey: undefined,
        serverCert: publicFile,
        cert: undefined,
        plaintext: false,
        intervalMs: 0,
        count: 3,
        requestTimeoutMs: 5000,
        handshakeDeadlineMs: 5000,
        badEvery: 1, // samples 1 and 2 are our demo's "malware" (unknown to Python's list), sample 3 is EICAR
        certWaitMs: 0,
      },
      log,
    );
    expect(
      await withDeadline(
        tasks.run((signal) => client.run(signal)),
        30_000,
        "three lookups at the Python server",
      ),
    ).toBe(0);
    expect(client.stats.lookups).toBe(3);
    expect(client.stats.handshakesOk).toBe(1);
    expect(client.stats.recent.map((r) => `${r.file} ${r.verdict} ${r.label}`)).toEqual([
      "download-3.bin malicious EICAR-Test-File",
      "download-2.bin clean ",
      "download-1.bin clean ",
    ]);
  });
});
