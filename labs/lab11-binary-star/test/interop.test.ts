// The state link against a pyzmq Binary Star peer written here from the Guide's bstarsrv.py
// (states as "%d" on a PUB, read with int() from a SUB), so both ends of the wire are checked
// against a second implementation. Skipped, saying so, without pyzmq.
import { freeTcpEndpoints, hasPyzmq, PythonPeers, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { BinaryStar } from "../internal/binary-star.ts";

const log = testLogger("lab11");
const HB = 100;
const python = new PythonPeers();
const tasks = new Tasks();
afterEach(async () => {
  python.killAll();
  await tasks.stopAll();
});

/** The Guide's server FSM for peer states (bstarsrv.py), printing its state number on each change. */
const PEER = `
import sys, time, zmq
PRIMARY, BACKUP, ACTIVE, PASSIVE = 1, 2, 3, 4
role, bind, peer, hb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) / 1000.0
ctx = zmq.Context.instance()
statepub = ctx.socket(zmq.PUB)
statepub.setsockopt(zmq.LINGER, 0)
statepub.bind(bind)
statesub = ctx.socket(zmq.SUB)
statesub.setsockopt(zmq.LINGER, 0)
statesub.setsockopt_string(zmq.SUBSCRIBE, "")
statesub.connect(peer)
state = PRIMARY if role == "primary" else BACKUP
print(state, flush=True)
poller = zmq.Poller()
poller.register(statesub, zmq.POLLIN)
send_state_at = time.time() + hb
while True:
    if poller.poll(max(0, send_state_at - time.time()) * 1000):
        event = int(statesub.recv())
        new = state
        if state == PRIMARY:
            new = ACTIVE if event == BACKUP else PASSIVE if event == ACTIVE else state
        elif state == BACKUP:
            new = PASSIVE if event == ACTIVE else state
        elif state == ACTIVE and event == ACTIVE:
            print("fatal", flush=True)
            sys.exit(3)
        elif state == PASSIVE:
            if event in (PRIMARY, BACKUP):
                new = ACTIVE
            elif event == PASSIVE:
                print("fatal", flush=True)
                sys.exit(3)
        if new != state:
            state = new
            print(state, flush=True)
    if time.time() >= send_state_at:
        statepub.send_string("%d" % state)
        send_state_at = time.time() + hb
`;

describe.skipIf(!hasPyzmq())(`the state link with a pyzmq Binary Star peer${hasPyzmq() ? "" : " (skipped: pyzmq not installed)"}`, () => {
  it("our primary and a pyzmq backup: ours goes active on its PEER_BACKUP, it goes passive on our ACTIVE", async () => {
    const [p, b] = (await freeTcpEndpoints(2)) as [string, string];
    const peer = python.start(PEER, ["backup", b, p, String(HB)]);
    expect(await peer.nextLine("its first state")).toBe("2");
    const primary = new BinaryStar({ role: "primary", stateBind: p, peerState: b, heartbeatMs: HB }, log);
    void tasks.run((s) => primary.run(s));
    expect(await peer.nextLine("passive")).toBe("4");
    await waitUntil(() => primary.state === "active" && primary.peerState === "passive", {
      timeoutMs: 10_000,
      what: "our primary active, hearing a passive peer",
    });
    expect(primary.dropped).toBe(0);
  });

  it("a pyzmq primary and our backup: it goes active on our PEER_BACKUP, ours goes passive on its ACTIVE", async () => {
    const [p, b] = (await freeTcpEndpoints(2)) as [string, string];
    const backup = new BinaryStar({ role: "backup", stateBind: b, peerState: p, heartbeatMs: HB }, log);
    void tasks.run((s) => backup.run(s));
    const peer = python.start(PEER, ["primary", p, b, String(HB)]);
    expect(await peer.nextLine("its first state")).toBe("1");
    expect(await peer.nextLine("active")).toBe("3");
    await waitUntil(() => backup.state === "passive", { timeoutMs: 10_000, what: "our backup passive" });
    expect(backup.peerState).toBe("active");
    expect(backup.dropped).toBe(0);
  });
});
