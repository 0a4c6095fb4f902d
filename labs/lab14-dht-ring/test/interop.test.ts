// Two nodes in-process over real sockets, and a client written with pyzmq and Python's msgpack from
// the README's wire table: PUT through one node, GET and OWNERS through the other.
import { hasPythonMsgpack, PythonPeers, Tasks, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { DhtNode } from "../internal/dht-node.ts";
import { coreDefaults } from "../internal/ring-node.ts";
import { freeUdpPort, log } from "./helpers.ts";

const tasks = [new Tasks(), new Tasks()];
const python = new PythonPeers();
afterEach(async () => {
  python.killAll();
  await Promise.all(tasks.map((t) => t.stopAll()));
});

async function twoNodes(): Promise<DhtNode[]> {
  const beaconPort = await freeUdpPort();
  const nodes = ["a", "b"].map(
    (name) =>
      new DhtNode(
        { ...coreDefaults, name, bind: "tcp://127.0.0.1:*", beaconPort, beaconAddress: "127.255.255.255", beaconMs: 100, leaveMs: 500 },
        log,
      ),
  );
  for (const [i, n] of nodes.entries()) {
    await n.bind();
    void tasks[i]?.run((s) => n.run(s));
  }
  await waitUntil(() => nodes.every((n) => n.core?.ring.size === 2 && n.core.greeted(nodes.find((o) => o !== n)?.id ?? "")), {
    timeoutMs: 15_000,
    what: "both nodes in each other's view, HELLO said",
  });
  return nodes;
}

describe("in-process nodes over real sockets", () => {
  it("a stopping node says it is leaving (port 0): the other drops it from its view at once, not after the 5 s expiry", async () => {
    const [a, b] = (await twoNodes()) as [DhtNode, DhtNode];
    const stopped = Date.now();
    await tasks[0]?.stopAll();
    expect(a.core?.leaving).toBe(true);
    await waitUntil(() => b.core?.members.size === 0, { timeoutMs: 15_000, what: "b drops a" });
    expect(Date.now() - stopped).toBeLessThan(coreDefaults.peerExpiryMs);
  });
});

describe.skipIf(!hasPythonMsgpack())("a pyzmq client (python3-zmq and python3-msgpack needed)", () => {
  it("PUT through one node, GET and OWNERS through the other, rid and hops as uint64", async () => {
    const [a, b] = await twoNodes();
    const client = python.start(
      `
import sys, struct, zmq, msgpack
def u64(n): return b"\\xcf" + struct.pack(">Q", n)
def body(entries): return bytes([0x80 | len(entries)]) + b"".join(msgpack.packb(k) + v for k, v in entries)
ctx = zmq.Context.instance()
def ask(endpoint, command, entries):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(endpoint)
    s.send_multipart([command, body(entries)])
    cmd, reply = s.recv_multipart()
    s.close()
    assert cmd == b"REPLY", cmd
    return msgpack.unpackb(reply)
put = ask(sys.argv[1], b"PUT", [("rid", u64(1)), ("key", msgpack.packb("py:key")), ("value", msgpack.packb(b"from python")), ("hops", u64(0))])
print(put["status"], put["rid"], put["replicas"], flush=True)
got = ask(sys.argv[2], b"GET", [("rid", u64(2)), ("key", msgpack.packb("py:key")), ("hops", msgpack.packb(0))])
print(got["status"], got["value"].decode(), flush=True)
owners = ask(sys.argv[2], b"OWNERS", [("rid", msgpack.packb(3)), ("key", msgpack.packb("py:key"))])
print(" ".join(sorted(owners["owners"])), flush=True)
missing = ask(sys.argv[1], b"GET", [("rid", msgpack.packb(4)), ("key", msgpack.packb("py:nothing")), ("hops", msgpack.packb(0))])
print(missing["status"], flush=True)
`,
      [a?.endpoint as string, b?.endpoint as string],
    );
    expect(await client.nextLine("the PUT's reply")).toBe("ok 1 2");
    expect(await client.nextLine("the GET's reply")).toBe("ok from python");
    expect(await client.nextLine("the owners")).toBe([a?.id, b?.id].sort().join(" "));
    expect(await client.nextLine("the GET of a missing key")).toBe("not-found");
  });
});
