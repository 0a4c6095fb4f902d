// Fuzzing both bound sockets: the server's CURVE ROUTER (the real process, reached through an
// authorised CURVE client: a plaintext fuzzer would never get past the handshake) and the ZAP
// handler's ROUTER (in-process: inproc://zeromq.zap.01 exists only inside the server's context).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ANY_LOOPBACK_TCP,
  freeTcpEndpoint,
  fuzzEndpoint,
  fuzzRole,
  ProcessPool,
  type RoleProcess,
  SocketJar,
  Tasks,
  waitUntil,
  withDeadline,
} from "@zlabs/kit/testing";
import { readCertificate, readKeyPair } from "lab19/certificates";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dealer, Router } from "zeromq";
import { C2Server, ZAP_DOMAIN } from "../internal/c2-server.ts";
import { AddressRules, CertificateStore, ironhousePolicy } from "../internal/cert-store.ts";
import { certFile } from "../internal/cert-tool.ts";
import { readOperator } from "../internal/operator.ts";
import { MAX_C2_BYTES } from "../internal/protocol.ts";
import { SecureAgent } from "../internal/secure-agent.ts";
import { ZAP_ENDPOINT, ZapHandler } from "../internal/zap.ts";
import { agentSetup, type DemoKeys, freshKeys, recordingLogger } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const jar = new SocketJar();
const tasks = new Tasks();
let keys: DemoKeys;
beforeEach(async () => {
  keys = await freshKeys();
});
afterEach(async () => {
  await procs.stopAll();
  // The relay's loop waits in receive(): closing its socket ends it.
  jar.closeAll();
  await tasks.stopAll();
  keys.cleanup();
});

/** A CURVE DEALER with an admitted agent's keys: what an authorised (or compromised) agent could send. */
async function curveClient(name: string, endpoint: string): Promise<Dealer> {
  const pair = await readKeyPair(certFile(keys.layout.agents, name));
  const dealer = jar.add(
    new Dealer({
      linger: 0,
      curveServerKey: (await readCertificate(keys.layout.server)).publicKey,
      curvePublicKey: pair.publicKey,
      curveSecretKey: pair.secretKey,
      sendTimeout: 5000,
    }),
  );
  const ready = new Promise<void>((resolve) => dealer.events.on("handshake", () => resolve()));
  dealer.connect(endpoint);
  await withDeadline(ready, WAIT, `${name}'s handshake`);
  return dealer;
}

describe("fuzzing", () => {
  it("the server's CURVE ROUTER takes 1,000 malformed messages from an authorised client and still has commands answered", async () => {
    const endpoint = await freeTcpEndpoint();
    const server = procs.start({
      labDir,
      cmd: "cmd/c2-server.ts",
      name: "c2-server",
      args: ["--keys", keys.layout.root, "--bind", endpoint, "--command-ms", "1000"],
      env: { TEST_LOG_LEVEL: "info" },
    });
    await server.waitForLog("ironhouse ready", WAIT);
    procs.start({
      labDir,
      cmd: "cmd/secure-agent.ts",
      name: "agent-1",
      args: ["--keys", keys.layout.root, "--name", "agent-1", "--server", endpoint],
    });
    const answers = (p: RoleProcess) => p.find({ msg: "answered", agent: "agent-1" }).length;
    const probe = async () => {
      const before = answers(server);
      await server.waitForLog(() => answers(server) > before, WAIT);
    };
    await probe();

    // The fuzzer speaks plaintext to a relay of ours; the relay passes each message on through agent-2's CURVE session.
    const curve = await curveClient("agent-2", endpoint);
    // libzmq checks a CURVE peer's limit against the encrypted frame (the payload plus CURVE's
    // overhead), so the relay keeps the fuzz a little under it: the session must survive the fuzz.
    const limit = MAX_C2_BYTES - 1024;
    const relay = jar.add(new Router({ linger: 0, maxMessageSize: limit }));
    await relay.bind(ANY_LOOPBACK_TCP);
    tasks.run(async (signal) => {
      while (!signal.aborted && !relay.closed) {
        const frames = await relay.receive().catch(() => undefined);
        if (!frames) return;
        await curve.send(frames.slice(1)).catch(() => relay.close());
      }
    });
    const report = await fuzzRole(server, {
      endpoint: relay.lastEndpoint as string,
      peer: "dealer",
      words: ["HELLO", "REPLY", "COMMAND"],
      fields: ["v", "name", "sent", "nonce", "command", "status", "output"],
      maxMessageBytes: limit,
      maxRssMiB: MAX_RSS_MIB,
      probe,
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    await waitUntil(() => server.find("invalid message from an agent dropped").length > 500, { timeoutMs: WAIT, what: "the drops logged" });
    expect(server.find("message dropped: its handling failed")).toEqual([]);

    // Over the socket's limit, from an authorised client: libzmq drops that connection; the server goes on.
    const big = await curveClient("agent-2", endpoint);
    await big.send([Buffer.from("HELLO"), Buffer.alloc(MAX_C2_BYTES + 1)]);
    await probe();
    expect(server.running).toBe(true);
  });

  it("the ZAP handler takes 1,000 malformed requests, answers hostile well-formed ones, and still admits a key", async () => {
    const { log, entries } = recordingLogger("zap", "info");
    const store = new CertificateStore(keys.layout.store, log);
    const zap = new ZapHandler(ironhousePolicy({ domain: ZAP_DOMAIN, store, rules: new AddressRules() }), log);
    await zap.start();
    tasks.run((signal) => zap.run(signal));

    const report = await fuzzEndpoint({
      endpoint: ZAP_ENDPOINT,
      peer: "dealer",
      envelope: true,
      words: ["1.0", "1", "c2", "127.0.0.1", "CURVE", "NULL", "PLAIN"],
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    await waitUntil(() => zap.loop.received >= 1000, { timeoutMs: WAIT, what: "the handler to read the fuzz" });
    expect(zap.stats.dropped + zap.stats.malformed).toBeGreaterThan(500);
    expect(zap.loop.failed).toBe(0);

    // Hostile but well-formed: each gets its answer, with the request id echoed.
    const asker = jar.add(new Dealer({ linger: 0, receiveTimeout: 5000 }));
    asker.connect(ZAP_ENDPOINT);
    const ask = async (frames: (string | Buffer)[]) => {
      await asker.send(["", ...frames]);
      return (await asker.receive()).map(String).slice(1, 6);
    };
    const curve = (domain: string, key: Buffer) => ["1.0", "7", domain, "127.0.0.1", "", "CURVE", key];
    expect(await ask(curve("c2", randomBytes(32)))).toEqual(["1.0", "7", "400", "No access: unknown key", ""]);
    expect(await ask(curve("elsewhere", randomBytes(32)))).toEqual(["1.0", "7", "400", "Unknown domain", ""]);
    expect((await ask(["1.0", "8", "c2", "not-an-ip", "", "CURVE", randomBytes(32)])).slice(0, 3)).toEqual(["1.0", "8", "400"]);
    expect((await ask(["1.0", "9", "c2", "127.0.0.1", "", "NULL"])).slice(0, 3)).toEqual(["1.0", "9", "400"]);
    expect(await ask(["9.9", "10", "c2"])).toEqual(["1.0", "10", "500", "Malformed request", ""]);

    // Still the handler of a working Ironhouse server: an admitted agent completes its handshake and says HELLO.
    const pair = await readKeyPair(keys.layout.server);
    const server = new C2Server(
      {
        bind: ANY_LOOPBACK_TCP,
        publicKey: pair.publicKey,
        secretKey: pair.secretKey,
        operator: await readOperator(join(keys.layout.operators, "ops")),
        commandMs: 100,
        commandTtlMs: 5000,
        helloMs: 100,
        liveness: 5,
        reloadMs: 100,
      },
      zap,
      store,
      log,
    );
    const endpoint = await server.bind();
    tasks.run((signal) => server.run(signal));
    const agent = new SecureAgent(await agentSetup(keys.layout, "agent-1", endpoint), recordingLogger("agent-1").log);
    tasks.run((signal) => agent.run(signal));
    await waitUntil(() => entries.some((e) => e.msg === "answered" && e.agent === "agent-1"), {
      timeoutMs: WAIT,
      what: "agent-1 answering",
    });
    expect(zap.stats.allowed).toBe(1);
  });
});
