// A pyzmq gossip node, written here from the README's wire table only: it joins the mesh through a
// seed's mailbox (JOIN), answers PINGs, takes updates from every member's PUB, repairs by DIGEST and
// DELTA, writes a key of its own, and must end with the same map digest as our nodes.
import { rmSync } from "node:fs";
import { hasPythonMsgpack, hasPyzmq, ProcessPool, PythonPeers, waitUntil } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ask } from "../internal/gossip-admin.ts";
import { converged, freeUdpPort, mailboxOf, startNode, status, tempDir, WAIT_MS } from "./helpers.ts";

const procs = new ProcessPool();
const python = new PythonPeers();
const store = tempDir("lab23-interop");
afterEach(async () => {
  python.killAll();
  await procs.stopAll();
});
afterAll(() => rmSync(store, { recursive: true, force: true }));

const PY_NODE = String.raw`
import sys, json, time, random, hashlib
import zmq, msgpack

seed = sys.argv[1]
ME = "py-node"
ctx = zmq.Context()
pub = ctx.socket(zmq.PUB)
pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
mbox = ctx.socket(zmq.ROUTER)
mbox_port = mbox.bind_to_random_port("tcp://127.0.0.1")
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"update.")
sub.setsockopt(zmq.SUBSCRIBE, b"servers.")
state = {"inc": 0, "lamport": 0}
members, dealers, entries, subscribed = {}, {}, {}, set()

def me():
    return {"id": ME, "inc": state["inc"], "state": "alive", "rank": 50,
            "pub": "tcp://127.0.0.1:%d" % pub_port, "mailbox": "tcp://127.0.0.1:%d" % mbox_port}

def send(mailbox, command, body):
    d = dealers.get(mailbox)
    if d is None:
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(mailbox)
        dealers[mailbox] = d
    body = dict(body, v=1)
    try:
        d.send_multipart([command.encode(), msgpack.packb(body)], flags=zmq.NOBLOCK)
    except zmq.Again:
        pass

def learn(r):
    if r["id"] == ME:
        if r["state"] != "alive" and r["inc"] >= state["inc"]:
            state["inc"] = r["inc"] + 1
        return
    m = members.get(r["id"])
    if r["state"] == "dead":
        if m is not None and r["inc"] >= m["inc"]:
            members.pop(r["id"])
        return
    if m is None or r["inc"] >= m["inc"]:
        members[r["id"]] = r
        if r["pub"] not in subscribed:
            subscribed.add(r["pub"])
            sub.connect(r["pub"])

def order(e):
    return (e["clock"], e["origin"], 1 if e["deleted"] else 0, e.get("value") or "")

def merge(e):
    state["lamport"] = max(state["lamport"], e["clock"])
    cur = entries.get(e["key"])
    if cur is None or order(e) > order(cur):
        entries[e["key"]] = e

def versions():
    return [[k, e["clock"], e["origin"]] for k, e in sorted(entries.items())]

def digest():
    h = hashlib.sha256()
    for k, e in sorted(entries.items()):
        h.update(("%s\0%d\0%s\0%d\0%s\n" % (k, e["clock"], e["origin"], 1 if e["deleted"] else 0, e.get("value") or "")).encode())
    return h.hexdigest()[:8]

def newer_than(theirs):
    held = {v[0]: (v[1], v[2]) for v in theirs}
    out = []
    for k, e in sorted(entries.items()):
        v = held.get(k)
        if v is None or (e["clock"], e["origin"]) > v:
            out.append(e)
    return out

# Our own write: Lamport clock, this node as origin; published once the mesh is joined.
state["lamport"] += 1
mine = {"key": "py-key", "value": "from-python", "clock": state["lamport"], "origin": ME, "deleted": False}
entries["py-key"] = mine
published = False

poller = zmq.Poller()
poller.register(mbox, zmq.POLLIN)
poller.register(sub, zmq.POLLIN)
next_join = next_digest = next_print = 0
end = time.time() + 60
while time.time() < end:
    now = time.time()
    if not members and now >= next_join:
        send(seed, "JOIN", {"from": me(), "updates": []})
        next_join = now + 0.3
    if members and now >= next_digest:
        m = random.choice(list(members.values()))
        send(m["mailbox"], "DIGEST", {"from": ME, "versions": versions(), "reply": True})
        next_digest = now + 0.2
    if members and not published and now > next_join + 0.5:
        pub.send_multipart([b"update.", msgpack.packb({"v": 1, "from": ME, "entry": mine})])
        published = True
    if now >= next_print:
        print(json.dumps({"digest": digest(), "members": sorted(members), "keys": len(entries)}), flush=True)
        next_print = now + 0.25
    for sock, _ in poller.poll(50):
        if sock is sub:
            topic, body = sub.recv_multipart()
            b = msgpack.unpackb(body)
            if topic == b"update.":
                merge(b["entry"])
            continue
        frames = mbox.recv_multipart()
        if len(frames) != 3:
            continue
        command, b = frames[1].decode(), msgpack.unpackb(frames[2])
        if command in ("PING", "ACK", "JOIN", "PING-REQ"):
            learn(b["from"])
            for u in b["updates"]:
                learn(u)
        if command == "PING" and b["target"] == ME:
            send(b["from"]["mailbox"], "ACK", {"from": me(), "seq": b["seq"], "target": ME, "updates": []})
        elif command == "JOIN":
            send(b["from"]["mailbox"], "ACK", {"from": me(), "seq": 0, "target": ME, "updates": list(members.values())[:16]})
        elif command == "DIGEST":
            m = members.get(b["from"])
            if m is None:
                continue
            delta = newer_than(b["versions"])
            for i in range(0, len(delta), 256):
                send(m["mailbox"], "DELTA", {"from": ME, "entries": delta[i:i + 256]})
        elif command == "DELTA":
            for e in b["entries"]:
                merge(e)
        elif command == "TIME?":
            m = members.get(b["from"])
            if m is not None:
                send(m["mailbox"], "TIME", {"from": ME, "round": b["round"], "clock": time.time() * 1000})
`;

describe.skipIf(!hasPyzmq() || !hasPythonMsgpack())(
  "a pyzmq node written from the wire table (needs python3-zmq and python3-msgpack)",
  () => {
    it("joins through a seed, takes the map, gives its own key, and ends with the same digest as every node", async () => {
      const beaconPort = await freeUdpPort();
      const nodes = [1, 2, 3].map((i) => startNode(procs, store, { id: `py${beaconPort}-${i}`, rank: i, beaconPort }));
      const mailboxes = await Promise.all(nodes.map(mailboxOf));
      await converged(mailboxes);
      for (let i = 0; i < 6; i++) await ask(mailboxes[i % 3] as string, { op: "set", key: `k${i}`, value: `v${i}` }, 10_000);
      await ask(mailboxes[1] as string, { op: "del", key: "k2" }, 10_000);
      const py = python.start(PY_NODE, [mailboxes[0] as string]);
      // Every node has the Python node's key and the Python node has theirs: one digest everywhere.
      let last: { digest: string; members: string[]; keys: number } = { digest: "", members: [], keys: 0 };
      await waitUntil(
        async () => {
          last = JSON.parse(await py.nextLine("a digest line", WAIT_MS));
          const all = await Promise.all(mailboxes.map(status));
          return all.every((s) => s.digest === last.digest) && last.members.length === 3;
        },
        { timeoutMs: WAIT_MS, what: "the Python node's digest equal to every node's", everyMs: 0 },
      );
      expect(last.keys).toBe(7);
      const got = await ask(mailboxes[2] as string, { op: "get", key: "py-key" }, 10_000);
      expect(got.entry).toMatchObject({ value: "from-python", origin: "py-node" });
      // The nodes took the Python node in as a live member (it answers their pings; waited for: a
      // Python process not scheduled for a probe period is suspected until it refutes).
      await waitUntil(async () => (await status(mailboxes[0] as string)).members.find((m) => m.id === "py-node")?.state === "alive", {
        timeoutMs: WAIT_MS,
        what: "py-node alive at the first node",
        everyMs: 100,
      });
    });
  },
);
