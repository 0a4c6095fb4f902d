// In-process over real sockets: the ZAP handler, the server and agents in one process (one ZeroMQ
// context, as the handler requires), and a test server that sends an agent hostile commands.
import { renameSync } from "node:fs";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { readKeyPair } from "lab19/certificates";
import { generateKeyPair, keyBytes } from "lab19/keys";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dealer, Router } from "zeromq";
import { C2Server, ZAP_DOMAIN } from "../internal/c2-server.ts";
import { AddressRules, CertificateStore, ironhousePolicy } from "../internal/cert-store.ts";
import { admit, certFile, revoke } from "../internal/cert-tool.ts";
import { generateOperator, readOperator, type SignedCommand, signCommand } from "../internal/operator.ts";
import { commandFrames, decodeReply, fromAgent, PROTOCOL_VERSION, seal, unseal } from "../internal/protocol.ts";
import { EXIT_GAVE_UP, SecureAgent } from "../internal/secure-agent.ts";
import { ZapHandler } from "../internal/zap.ts";
import { agentSetup, type DemoKeys, freshKeys, recordingLogger } from "./helpers.ts";

const WAIT = 10_000;
const tasks = new Tasks();
const jar = new SocketJar();
let keys: DemoKeys;
beforeEach(async () => {
  keys = await freshKeys();
});
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
  keys.cleanup();
});

/** The server as the c2-server process builds it: store, ZAP handler up, then the CURVE socket. */
async function startServer(options: { allow?: string[]; deny?: string[]; startZap?: boolean } = {}) {
  const { log, entries } = recordingLogger("c2-server");
  const pair = await readKeyPair(keys.layout.server);
  const operator = await readOperator(join(keys.layout.operators, "ops"));
  let server: C2Server | undefined;
  const store = new CertificateStore(keys.layout.store, log, (c) => server?.onStoreChange(c));
  await store.refresh();
  const zap = new ZapHandler(ironhousePolicy({ domain: ZAP_DOMAIN, store, rules: new AddressRules(options.allow, options.deny) }), log);
  const config = {
    bind: ANY_LOOPBACK_TCP,
    publicKey: pair.publicKey,
    secretKey: pair.secretKey,
    operator,
    commandMs: 100,
    commandTtlMs: 5000,
    helloMs: 100,
    liveness: 5,
    reloadMs: 100,
  };
  server = new C2Server(config, zap, store, log);
  if (options.startZap === false) return { server, zap, entries, endpoint: "" };
  // The previous test's handler was closed, but libzmq releases an inproc name in its own thread, later.
  await waitUntil(
    () =>
      zap.start().then(
        () => true,
        (err: Error) => (/another ZAP handler is bound/.test(err.message) ? false : Promise.reject(err)),
      ),
    { timeoutMs: WAIT, what: "the ZAP endpoint free of the previous handler", everyMs: 20 },
  );
  const endpoint = await server.bind();
  const s = server;
  tasks.run((signal) => zap.run(signal));
  tasks.run((signal) => s.run(signal));
  return { server, zap, entries, endpoint, pair };
}

function startAgent(setup: Awaited<ReturnType<typeof agentSetup>>) {
  const { log, entries } = recordingLogger(setup.name);
  const agent = new SecureAgent(setup, log);
  const done = tasks.run((signal) => agent.run(signal));
  return { agent, entries, done };
}

const answeredBy = (entries: { msg: string; agent?: unknown }[], name: string) =>
  entries.filter((e) => e.msg === "answered" && e.agent === name).length;

describe("the Ironhouse server in-process", () => {
  it("an authorised agent runs the operator's commands, and its replies come back", async () => {
    const { entries, endpoint } = await startServer();
    const a1 = startAgent(await agentSetup(keys.layout, "agent-1", endpoint));
    await waitUntil(() => answeredBy(entries, "agent-1") >= 4, { timeoutMs: WAIT, what: "four answers from agent-1" });
    expect(a1.agent.facts.run).toBeGreaterThanOrEqual(4);
    expect(entries.some((e) => e.msg === "agent connected" && e.agent === "agent-1")).toBe(true);
  });

  it("an unknown key is refused on both sides; the agent gives up and does not reconnect", async () => {
    const { entries, endpoint, zap, server } = await startServer();
    const stranger = startAgent(await agentSetup(keys.layout, "stranger", endpoint));
    expect(await withDeadline(stranger.done, WAIT, "the stranger to give up")).toBe(EXIT_GAVE_UP);
    expect(stranger.entries.find((e) => e.level === 50)?.msg).toMatch(/^giving up: the server refused this agent's key \(ZAP 400\)/);
    // An admitted agent connects after it (so the server has handled more handshakes): still one request from the stranger.
    startAgent(await agentSetup(keys.layout, "agent-1", endpoint));
    await waitUntil(() => answeredBy(entries, "agent-1") >= 1, { timeoutMs: WAIT, what: "agent-1 answered" });
    expect(zap.stats).toMatchObject({ denied: 1, allowed: 1 });
    // The server socket's own event for the refusal may come after the agent's.
    await waitUntil(() => server.refusals.get("ZAP 400") === 1, { timeoutMs: WAIT, what: "the server's socket to count the refusal" });
  });

  it("a NULL (plaintext) client is refused: mechanism mismatch on both sides, and no ZAP request", async () => {
    const { server, endpoint, zap } = await startServer();
    const plain = jar.add(new Dealer({ linger: 0 }));
    const failed = new Promise<string>((resolve) => plain.events.on("handshake:error:protocol", (e) => resolve(e.error.code)));
    plain.connect(endpoint);
    expect(await withDeadline(failed, WAIT, "the client's handshake error")).toBe("ERR_ZMTP_MECHANISM_MISMATCH");
    await waitUntil(() => server.refusals.get("ERR_ZMTP_MECHANISM_MISMATCH") === 1, { timeoutMs: WAIT, what: "the server's refusal" });
    expect(zap.stats.requests).toBe(0);
  });

  it("a server without its ZAP handler does not bind", async () => {
    const { server, zap } = await startServer({ startZap: false });
    expect(zap.ready).toBe(false);
    await expect(server.bind()).rejects.toThrow(/the ZAP handler is not running: refusing to bind/);
  });

  it("zapEnforceDomain: with the handler gone, even an admitted key's handshake fails (not Stonehouse)", async () => {
    const { endpoint, zap } = await startServer();
    zap.close();
    const { entries } = startAgent(await agentSetup(keys.layout, "agent-1", endpoint, { handshakeTimeoutMs: 1500 }));
    await waitUntil(() => entries.some((e) => e.level === 50), { timeoutMs: WAIT, what: "agent-1 to give up" });
    expect(entries.find((e) => e.level === 50)?.msg).toMatch(/no CURVE handshake .* the handshake failed/);
  });

  it("the address lists: a denied address, or one not on the allow list, is refused before its key is looked at", async () => {
    for (const rules of [{ deny: ["127.0.0.0/8"] }, { allow: ["10.0.0.0/8"] }]) {
      const { endpoint, entries, zap } = await startServer(rules);
      const a = startAgent(await agentSetup(keys.layout, "agent-1", endpoint));
      expect(await withDeadline(a.done, WAIT, "agent-1 to give up")).toBe(EXIT_GAVE_UP);
      expect(zap.stats.denied).toBe(1);
      expect(entries.length).toBeGreaterThan(0);
      await tasks.stopAll();
    }
  });

  it("hot reload: a public file added to the store admits a refused key without a restart", async () => {
    const { entries, endpoint } = await startServer();
    const first = startAgent(await agentSetup(keys.layout, "stranger", endpoint));
    expect(await withDeadline(first.done, WAIT, "the stranger to give up")).toBe(EXIT_GAVE_UP);
    await admit(keys.layout, "stranger");
    startAgent(await agentSetup(keys.layout, "stranger", endpoint));
    await waitUntil(() => answeredBy(entries, "stranger") >= 1, { timeoutMs: WAIT, what: "the admitted stranger to answer" });
  });

  it("revocation closes the revoked key's live session: it is refused and gives up; the other agent comes back", async () => {
    const { entries, endpoint, server } = await startServer();
    const a1 = startAgent(await agentSetup(keys.layout, "agent-1", endpoint));
    const a2 = startAgent(await agentSetup(keys.layout, "agent-2", endpoint));
    await waitUntil(() => answeredBy(entries, "agent-1") >= 1 && answeredBy(entries, "agent-2") >= 1, {
      timeoutMs: WAIT,
      what: "both answered",
    });
    await revoke(keys.layout, "agent-2");
    expect(await withDeadline(a2.done, WAIT, "agent-2 to give up")).toBe(EXIT_GAVE_UP);
    expect(a2.entries.find((e) => e.level === 50)?.msg).toMatch(/ZAP 400/);
    expect(server.counts.sessionsClosed).toBe(1);
    const before = answeredBy(entries, "agent-1");
    await waitUntil(() => answeredBy(entries, "agent-1") >= before + 2, { timeoutMs: WAIT, what: "agent-1 answering again" });
    expect(a1.entries.some((e) => e.msg === "disconnected; reconnecting")).toBe(true);
    expect(server.agentList().map((a) => a.name)).toEqual(["agent-1"]);
  });

  it("revocation also closes the session of an agent listed as gone whose connection is still open", async () => {
    const { entries, endpoint, server } = await startServer();
    // An agent by hand: one HELLO, then silence (no replies to the commands it is sent), so the server
    // lists it as gone after 5 intervals of 100 ms while its CURVE connection stays open.
    const setup = await agentSetup(keys.layout, "agent-2", endpoint);
    const quiet = jar.add(
      new Dealer({ linger: 0, curveServerKey: setup.serverKey, curvePublicKey: setup.publicKey, curveSecretKey: setup.secretKey }),
    );
    const refused = new Promise<number>((resolve) => quiet.events.on("handshake:error:auth", (e) => resolve(e.error.status)));
    const handshake = new Promise<void>((resolve) => quiet.events.on("handshake", () => resolve()));
    quiet.connect(endpoint);
    await withDeadline(handshake, WAIT, "the CURVE handshake");
    const key = { publicKey: keyBytes(setup.publicKey), secretKey: keyBytes(setup.secretKey) };
    await quiet.send(seal("hello", { v: PROTOCOL_VERSION, name: "agent-2", sent: Date.now() }, key, keyBytes(setup.serverKey)));
    await waitUntil(() => entries.some((e) => e.msg === "agent silent; listed as gone" && e.agent === "agent-2"), {
      timeoutMs: WAIT,
      what: "agent-2 listed as gone",
    });
    expect(server.agentList()).toEqual([]);
    await revoke(keys.layout, "agent-2");
    // Its connection closed, it connects again and ZAP refuses the revoked key.
    expect(await withDeadline(refused, WAIT, "agent-2's key refused")).toBe(400);
    expect(server.counts.sessionsClosed).toBe(1);
  });

  it("a wrong server key: the agent gives up after its deadline, saying the key is the likely cause", async () => {
    const { endpoint } = await startServer();
    const a = startAgent(
      await agentSetup(keys.layout, "agent-1", endpoint, { serverKey: generateKeyPair().publicKey, handshakeTimeoutMs: 1500 }),
    );
    expect(await withDeadline(a.done, WAIT, "the agent to give up")).toBe(EXIT_GAVE_UP);
    expect(a.entries.find((e) => e.level === 50)?.msg).toMatch(/within 1.5 s: the server took the connection .* is the server key right\?/);
  });
});

describe("an agent against hostile commands (a test server: CURVE, no ZAP handler bound)", () => {
  async function hostileServer() {
    const pair = generateKeyPair();
    const router = jar.add(new Router({ linger: 0, curveServer: true, curveSecretKey: pair.secretKey }));
    await router.bind(ANY_LOOPBACK_TCP);
    const endpoint = router.lastEndpoint as string;
    const setup = await agentSetup(keys.layout, "agent-1", endpoint, { serverKey: pair.publicKey });
    const agent = startAgent(setup);
    const secret = keyBytes(pair.secretKey);
    const hello = fromAgent(await withDeadline(router.receive(), WAIT, "the agent's HELLO"));
    if (hello.kind !== "hello") throw new Error("expected HELLO");
    const route = hello.routingId;
    /** Sends a command and returns the agent's sealed reply, opened. */
    const ask = async (signed: SignedCommand) => {
      await router.send(commandFrames(route, signed));
      for (;;) {
        const msg = fromAgent(await withDeadline(router.receive(), WAIT, "the agent's reply"));
        if (msg.kind !== "reply") continue;
        const plain = unseal(msg, secret);
        if (!plain) throw new Error("a reply that does not open");
        const reply = decodeReply(plain);
        if (!reply.ok) throw new Error(reply.reason);
        return reply.value;
      }
    };
    const operator = await readOperator(join(keys.layout.operators, "ops"));
    return { ask, operator, agentKey: setup.publicKey, agent };
  }

  it("runs a valid command once; the replay, a forgery, another operator and another agent's command are refused", async () => {
    const { ask, operator, agentKey, agent } = await hostileServer();
    const fields = (over = {}) => ({
      agent: agentKey,
      nonce: Buffer.from(crypto.getRandomValues(new Uint8Array(16))),
      issued: Date.now(),
      expires: Date.now() + 5000,
      command: "status" as const,
      args: {},
      ...over,
    });
    const valid = signCommand(operator, fields());
    expect(await ask(valid)).toMatchObject({ status: "done", command: "status" });
    expect(await ask(valid)).toMatchObject({ status: "refused", output: { reason: "replayed nonce" } });
    const forged = { body: Buffer.from(valid.body), signature: valid.signature };
    forged.body[forged.body.length - 1] = (forged.body[forged.body.length - 1] as number) ^ 1;
    expect(await ask(forged)).toMatchObject({ status: "refused", output: { reason: expect.stringMatching(/bad signature/) } });
    expect(await ask(signCommand(generateOperator("mallory"), fields()))).toMatchObject({ status: "refused" });
    expect(await ask(signCommand(operator, fields({ agent: generateKeyPair().publicKey })))).toMatchObject({
      status: "refused",
      output: { reason: "signed for another agent" },
    });
    expect(await ask(signCommand(operator, fields({ expires: Date.now() - 1 })))).toMatchObject({
      status: "refused",
      output: { reason: "expired" },
    });
    expect(agent.agent.facts).toMatchObject({ run: 1, refused: 5 });
  });
});

describe("the certificate store", () => {
  it("renaming a file out of the folder is seen as a removal", async () => {
    const { log } = recordingLogger("store");
    const changes: string[][] = [];
    const store = new CertificateStore(keys.layout.store, log, (c) => changes.push(c.removed.map((r) => r.name)));
    await store.refresh();
    renameSync(certFile(keys.layout.store, "agent-1"), join(keys.layout.root, "agent-1.moved"));
    await store.refresh();
    expect(changes).toEqual([["agent-1"]]);
    expect(store.size).toBe(1);
  });
});
