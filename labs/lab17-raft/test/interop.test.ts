// A pyzmq client written from the README's wire table (REQ socket, MessagePack maps, integers sent
// as uint64 the way Python's msgpack may), against a real three-node cluster: writes, a retried
// write applied once, compare-and-set, a read through the leader, delete, status, and a "not
// leader" answer that names the leader. Skipped, saying so, without python3-zmq and python3-msgpack.
import { hasPythonMsgpack, ProcessPool, PythonPeers } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "./cluster.ts";

const procs = new ProcessPool();
const peers = new PythonPeers();
let cluster: TestCluster | undefined;
afterEach(async () => {
  peers.killAll();
  await procs.stopAll();
  cluster?.close();
  cluster = undefined;
});

const CLIENT = String.raw`
import json, struct, sys, zmq, msgpack
endpoints = sys.argv[1].split(",")
ctx = zmq.Context()

def pack(obj):
    # Integers as uint64 (0xcf), as some MessagePack writers send them.
    out = bytearray()
    def enc(v):
        if isinstance(v, bool) or v is None or isinstance(v, (str, bytes, float)):
            out.extend(msgpack.packb(v))
        elif isinstance(v, int):
            out.extend(b"\xcf" + struct.pack(">Q", v))
        elif isinstance(v, dict):
            out.extend(b"\xdf" + struct.pack(">I", len(v)))
            for k, x in v.items():
                enc(k); enc(x)
        else:
            raise TypeError(v)
    enc(obj)
    return bytes(out)

next_id = 0
def ask(i, request):
    global next_id
    next_id += 1
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 3000)
    s.connect(endpoints[i])
    request = dict(request, v=1, id=next_id)
    s.send(pack(request))
    try:
        reply = msgpack.unpackb(s.recv(), raw=False)
    except zmq.Again:
        reply = None
    s.close()
    return reply

def call(request):
    # Ask each node until the leader answers; follow its hint when a node names it.
    i = 0
    for _ in range(100):
        reply = ask(i, request)
        if reply and reply["status"] == "ok":
            return reply
        if reply and reply["status"] == "notLeader" and reply.get("leader"):
            for j in range(len(endpoints)):
                status = ask(j, {"op": "status"})
                if status and status["node"] == reply["leader"]:
                    i = j
                    break
        else:
            i = (i + 1) % len(endpoints)
    raise SystemExit("no leader answered")

out = {}
out["put"] = call({"op": "cas", "key": "policy/ssh", "expect": None, "value": "deny", "client": "py", "seq": 1})
out["retry"] = call({"op": "cas", "key": "policy/ssh", "expect": None, "value": "deny", "client": "py", "seq": 1})
out["cas_no"] = call({"op": "cas", "key": "policy/ssh", "expect": "allow", "value": "audit", "client": "py", "seq": 2})
out["cas_yes"] = call({"op": "cas", "key": "policy/ssh", "expect": "deny", "value": "audit", "client": "py", "seq": 3})
out["get"] = call({"op": "get", "key": "policy/ssh"})
out["delete"] = call({"op": "delete", "key": "policy/ssh", "client": "py", "seq": 4})
out["get_deleted"] = call({"op": "get", "key": "policy/ssh"})
out["statuses"] = [ask(j, {"op": "status"}) for j in range(len(endpoints))]
follower = next(j for j, st in enumerate(out["statuses"]) if st["role"] == "follower")
out["follower"] = ask(follower, {"op": "get", "key": "policy/ssh"})
out["bad"] = ask(0, {"op": "put", "key": "", "value": "x", "client": "py", "seq": 5})
print(json.dumps(out), flush=True)
`;

describe.skipIf(!hasPythonMsgpack())(
  `a pyzmq client${hasPythonMsgpack() ? "" : " (skipped: python3-zmq and python3-msgpack needed)"}`,
  () => {
    it("a compare-and-set retried under the same seq is applied once; compare-and-set, reads, deletes and status, integers as uint64", async () => {
      cluster = new TestCluster(procs, 3);
      await cluster.start();
      await cluster.leader();
      const py = peers.start(CLIENT, [cluster.clients.join(",")]);
      const out = JSON.parse(await py.nextLine("the client's results", 60_000));
      expect(out.put).toMatchObject({ v: 1, status: "ok", ok: true });
      // The retry of that compare-and-set (same client, same seq) gets the first result: applied a
      // second time, it would have found "deny" where it expects nothing, and answered false.
      expect(out.retry).toMatchObject({ status: "ok", ok: true });
      expect(out.cas_no).toMatchObject({ status: "ok", ok: false });
      expect(out.cas_yes).toMatchObject({ status: "ok", ok: true });
      expect(out.get).toMatchObject({ status: "ok", value: "audit" });
      expect(out.delete).toMatchObject({ status: "ok", ok: true });
      expect(out.get_deleted).toMatchObject({ status: "ok", value: null });
      const leaders = out.statuses.filter((s: { role: string }) => s.role === "leader");
      expect(leaders).toHaveLength(1);
      expect(out.statuses.every((s: { status: string; term: number }) => s.status === "status" && s.term >= 1)).toBe(true);
      expect(out.bad).toMatchObject({ status: "error" });
      expect(out.follower).toMatchObject({ status: "notLeader", leader: leaders[0].node });
    });
  },
);
