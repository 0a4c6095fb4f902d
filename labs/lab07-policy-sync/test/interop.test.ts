// A CHP clone client written with pyzmq from RFC 12 alone: it takes our master's snapshot and its
// updates, sends a KVSET with a uuid and a ttl, and its map ends equal to the master's.
import { hasPyzmq, PythonPeers, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { CloneClient, chpServer } from "../internal/clone-client.ts";
import { EMPTY, kv } from "../internal/kvmsg.ts";
import { Updater } from "../internal/updater.ts";
import { PolicyMaster, pairConfigs } from "./helpers.ts";

const log = testLogger("lab07");
const WAIT_MS = 20_000;
const tasks = new Tasks();
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

/** RFC 12/CHP, client side: SNAPSHOT DEALER to P, SUBSCRIBER to P+1, PUBLISHER to P+2. */
const CHP_CLIENT = `
import sys, struct, hashlib, uuid, zmq
base = sys.argv[1]
host, port = base.rsplit(":", 1)
port = int(port)
ctx = zmq.Context.instance()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.connect("%s:%d" % (host, port + 1))
snapshot = ctx.socket(zmq.DEALER)
snapshot.setsockopt(zmq.LINGER, 0)
snapshot.connect(base)
# An XPUB as the publisher, to see the collector's subscription before the first KVSET.
pub = ctx.socket(zmq.XPUB)
pub.setsockopt(zmq.LINGER, 1000)
pub.connect("%s:%d" % (host, port + 2))
pub.recv()

# The first HUGZ proves our subscription has reached the server; then ask for the snapshot.
sub.recv_multipart()
snapshot.send_multipart([b"ICANHAZ?", b""])
kvmap = {}
while True:
    key, seq, _uuid, _props, body = snapshot.recv_multipart()
    if key == b"KTHXBAI":
        sequence = struct.unpack(">Q", seq)[0]
        break
    kvmap[key] = body
print("synced %d %d" % (len(kvmap), sequence), flush=True)

pub.send_multipart([b"/py/hello", struct.pack(">Q", 0), uuid.uuid4().bytes, b"ttl=1\\n", b"allow udp any any any 53"])

while True:
    frames = sub.recv_multipart()
    if len(frames) != 5 or frames[0] == b"HUGZ":
        continue
    key, seq, _uuid, _props, body = frames
    seq = struct.unpack(">Q", seq)[0]
    if seq <= sequence:
        continue
    sequence = seq
    if body:
        kvmap[key] = body
    else:
        kvmap.pop(key, None)
    if key == b"/py/done":
        break

digest = hashlib.sha256()
for key in sorted(kvmap):
    digest.update(struct.pack(">II", len(key), len(kvmap[key])) + key + kvmap[key])
print("done %s %d %d" % (digest.hexdigest(), len(kvmap), sequence), flush=True)
`;

describe.skipIf(!hasPyzmq())("a pyzmq CHP client (python3-zmq needed)", () => {
  it("gets the snapshot and the updates, sets a key with a ttl, and its map equals ours", async () => {
    const { primary } = await pairConfigs();
    const master = new PolicyMaster(primary, log);
    void tasks.run((s) => master.run(s));
    await master.bind();
    // Our own client first: its snapshot request is the vote that makes the lone primary active.
    const ours = new CloneClient(
      { servers: [chpServer(master.endpoints.snapshot)], subtree: "", serverTtlMs: 5000, maxKeys: 10_000, name: "ts" },
      log,
    );
    void tasks.run((s) => ours.run(s));
    await waitUntil(() => ours.synced, { timeoutMs: WAIT_MS, what: "our client synced" });
    const u = new Updater([chpServer(master.endpoints.snapshot)], log);
    void tasks.run((s) => u.run(s));
    await tasks.run((s) => u.untilListening(1, WAIT_MS, s));
    for (let i = 0; i < 300; i++) await u.send(kv(`/acl/edge/${i}`, `allow tcp any any any ${i}`));
    for (let i = 0; i < 300; i += 4) await u.send(kv(`/acl/edge/${i}`, EMPTY));
    await waitUntil(() => master.seq === 375n, { timeoutMs: WAIT_MS, what: "the first updates" });

    const py = python.start(CHP_CLIENT, [master.endpoints.snapshot]);
    expect(await py.nextLine("the snapshot", WAIT_MS)).toBe("synced 225 375");
    // The Python client's KVSET (uuid, ttl=1) is published, then expires: a delete with a new sequence.
    await waitUntil(() => master.counts.expired === 1, { timeoutMs: WAIT_MS, what: "the Python key to expire" });
    for (let i = 0; i < 100; i++) await u.send(kv(`/acl/core/${i}`, `deny udp any any any ${i}`));
    for (let i = 1; i < 300; i += 4) await u.send(kv(`/acl/edge/${i}`, EMPTY));
    expect(await u.set(kv("/py/done", "allow any any any any any"), WAIT_MS)).toBeDefined();
    const [word, digest, size, seq] = (await py.nextLine("the final map", WAIT_MS)).split(" ");
    expect(word).toBe("done");
    expect([digest, Number(size), BigInt(seq as string)]).toEqual([master.digest(), master.map.size, master.seq]);
    await waitUntil(() => ours.seq === master.seq, { timeoutMs: WAIT_MS, what: "our client caught up" });
    expect(ours.digest()).toBe(digest);
    expect(master.map.has("/py/hello")).toBe(false);
  });
});
