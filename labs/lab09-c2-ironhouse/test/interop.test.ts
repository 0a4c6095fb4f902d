// pyzmq (Debian's python3-zmq, its own libzmq) on both sides of the handshake: CURVE (RFC 25/26)
// with keys pyzmq's zmq.auth loads from our zcert files; our ZAP handler deciding for a pyzmq
// client; pyzmq's own ZAP handler (zauth, ThreadAuthenticator) loading our certificate store and
// deciding for our agent. Skipped, saying so, without pyzmq.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, hasPyzmq, ProcessPool, PythonPeers } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { certFile } from "../internal/cert-tool.ts";
import { type DemoKeys, freshKeys } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT = 30_000;
const procs = new ProcessPool();
const python = new PythonPeers();
let keys: DemoKeys;
beforeEach(async () => {
  keys = await freshKeys();
});
afterEach(async () => {
  python.killAll();
  await procs.stopAll();
  keys.cleanup();
});

/** A pyzmq CURVE client whose keys zmq.auth reads from our certificate files; prints how its handshake ended. */
const CLIENT = `
import sys, zmq, zmq.auth
from zmq.utils.monitor import recv_monitor_message
endpoint, client_cert, server_cert = sys.argv[1:4]
ctx = zmq.Context.instance()
s = ctx.socket(zmq.DEALER)
s.linger = 0
s.curve_publickey, s.curve_secretkey = zmq.auth.load_certificate(client_cert + "_secret")
s.curve_serverkey, _ = zmq.auth.load_certificate(server_cert)
events = {zmq.EVENT_HANDSHAKE_SUCCEEDED: "ok", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "auth", zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol"}
mon = s.get_monitor_socket(sum(events))
s.connect(endpoint)
ev = recv_monitor_message(mon)
print(events[ev["event"]], ev["value"], flush=True)
`;

/** A pyzmq Ironhouse server: zauth (ThreadAuthenticator) with our store folder; prints each message's first frame. */
const SERVER = `
import sys, zmq, zmq.auth
from zmq.auth.thread import ThreadAuthenticator
store, server_cert = sys.argv[1:3]
ctx = zmq.Context.instance()
auth = ThreadAuthenticator(ctx)
auth.start()
auth.configure_curve(domain="*", location=store)
srv = ctx.socket(zmq.ROUTER)
srv.linger = 0
srv.curve_publickey, srv.curve_secretkey = zmq.auth.load_certificate(server_cert + "_secret")
srv.curve_server = True
print(srv.bind_to_random_port("tcp://127.0.0.1"), flush=True)
while True:
    frames = srv.recv_multipart()
    print(frames[1].decode("latin1"), len(frames) - 1, flush=True)
`;

describe.skipIf(!hasPyzmq())("interop with pyzmq (python3-zmq)", () => {
  it("pyzmq CURVE clients with our zcert files: our ZAP handler admits agent-1 and refuses the stranger (400)", async () => {
    const endpoint = await freeTcpEndpoint();
    const server = procs.start({
      labDir,
      cmd: "cmd/c2-server.ts",
      name: "c2-server",
      args: ["--keys", keys.layout.root, "--bind", endpoint],
    });
    await server.waitForLog("ironhouse ready", WAIT);
    const run = (name: string) => python.start(CLIENT, [endpoint, certFile(keys.layout.agents, name), keys.layout.server]);
    expect(await run("agent-1").nextLine("agent-1's handshake")).toBe("ok 0");
    expect(await run("stranger").nextLine("the stranger's handshake")).toBe("auth 400");
    await server.waitForLog({ msg: "ZAP denied a handshake", why: "No access: unknown key" }, WAIT);
  });

  it("our agent against pyzmq's zauth loading our certificate store: agent-1 says HELLO; the stranger is refused and gives up", async () => {
    const peer = python.start(SERVER, [keys.layout.store, keys.layout.server]);
    const endpoint = `tcp://127.0.0.1:${await peer.nextLine("the port")}`;
    const agent = (name: string) =>
      procs.start({ labDir, cmd: "cmd/secure-agent.ts", name, args: ["--keys", keys.layout.root, "--name", name, "--server", endpoint] });
    agent("agent-1");
    expect(await peer.nextLine("agent-1's HELLO")).toBe("HELLO 4");
    const stranger = agent("stranger");
    expect(await stranger.exited).toEqual({ code: 3, signal: null });
    expect(stranger.find({ level: 50 })[0]?.msg).toMatch(/ZAP 400/);
  });
});
