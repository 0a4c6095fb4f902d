// The server and the client as objects in this process, over real CURVE sockets on loopback.
import { createConnection, createServer, type Server } from "node:net";
import { ANY_LOOPBACK_TCP, freeTcpEndpoint, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { generateKeyPair } from "../internal/keys.ts";
import { checkFrames, fromServer, MAX_MESSAGE_BYTES } from "../internal/protocol.ts";
import { EXIT_GAVE_UP, SecureClient, type SecureClientConfig } from "../internal/secure-client.ts";
import { SecureServer } from "../internal/secure-server.ts";
import { sampleFile, sha256 } from "../internal/threat-intel.ts";
import { keyFolder } from "./helpers.ts";

const log = testLogger("lab19");
const tasks = new Tasks();
const jar = new SocketJar();
let keys: Awaited<ReturnType<typeof keyFolder>>;

beforeEach(async () => {
  expect(zmq.capability.curve).toBe(true);
  keys = await keyFolder();
});
afterEach(async () => {
  jar.closeAll();
  await tasks.stopAll();
  await keys.cleanup();
});

async function startServer(bind = ANY_LOOPBACK_TCP): Promise<{ server: SecureServer; endpoint: string }> {
  const server = new SecureServer({ bind, cert: keys.serverCert, certWaitMs: 0, handshakeIntervalMs: 2000 }, log);
  void tasks.run((signal) => server.run(signal));
  const endpoint = await waitUntil(() => server.endpoint, { timeoutMs: 5000, what: "the server to bind" });
  return { server, endpoint };
}

function clientConfig(server: string, more: Partial<SecureClientConfig> = {}): SecureClientConfig {
  return {
    server,
    id: "test-client",
    serverKey: keys.server.publicKey,
    serverCert: undefined,
    cert: undefined,
    plaintext: false,
    intervalMs: 0,
    count: 6,
    requestTimeoutMs: 2000,
    handshakeDeadlineMs: 3000,
    badEvery: 5,
    certWaitMs: 0,
    ...more,
  };
}

function runClient(config: SecureClientConfig): { client: SecureClient; done: Promise<number> } {
  const client = new SecureClient(config, log);
  return { client, done: tasks.run((signal) => client.run(signal)) };
}

describe("CURVE client and server", () => {
  it("a client holding the server's public key gets its verdicts", async () => {
    const { server, endpoint } = await startServer();
    const { client, done } = runClient(clientConfig(endpoint));
    expect(await withDeadline(done, 15_000, "six lookups")).toBe(0);
    expect(client.stats.lookups).toBe(6);
    expect(client.stats.malicious).toBe(1);
    expect(client.stats.recent[1]).toMatchObject({ file: "download-5.bin", verdict: "malicious", label: "Demo.Dropper.A" });
    expect(client.stats.handshakesOk).toBe(1);
    await waitUntil(() => server.stats.lookups === 6, { timeoutMs: 5000, what: "the server's count" });
    expect(server.stats.handshakesOk).toBe(1);
    expect(server.stats.clients.get("test-client")).toMatchObject({ lookups: 6, malicious: 1 });
  });

  it("a wrong server key never completes: the client gives up after its deadline with a clear error", async () => {
    const { server, endpoint } = await startServer();
    const deadline = 800;
    const started = performance.now();
    const { client, done } = runClient(
      clientConfig(endpoint, { serverKey: generateKeyPair().publicKey, handshakeDeadlineMs: deadline, count: 0 }),
    );
    expect(await withDeadline(done, 10_000, "the client to give up")).toBe(EXIT_GAVE_UP);
    expect(performance.now() - started).toBeGreaterThanOrEqual(deadline);
    expect(client.gaveUpReason).toMatch(/^no CURVE handshake within 800 ms: \d+ handshakes failed \(last: EPIPE\).*wrong --server-key/);
    expect(client.stats.handshakesFailed).toBeGreaterThan(1); // libzmq retried: it would for ever
    expect(client.stats.lookups).toBe(0);
    expect(server.stats.handshakesFailed.get("ERR_ZMTP_CRYPTOGRAPHIC")).toBeGreaterThan(1);
    expect(server.stats.lookups).toBe(0);
  });

  it("a plaintext client fails at once on the mechanism, and says so", async () => {
    const { server, endpoint } = await startServer();
    const { client, done } = runClient(clientConfig(endpoint, { plaintext: true, handshakeDeadlineMs: 60_000, count: 0 }));
    expect(await withDeadline(done, 10_000, "the plaintext client to give up")).toBe(EXIT_GAVE_UP);
    expect(client.gaveUpReason).toMatch(/ERR_ZMTP_MECHANISM_MISMATCH.*one CURVE, the other NULL/);
    await waitUntil(() => [...server.stats.handshakesFailed.values()].some((n) => n > 0), {
      timeoutMs: 5000,
      what: "the server to count it",
    });
    expect(server.stats.lookups).toBe(0);
  });

  it("a plain DEALER's request never reaches the server's code", async () => {
    const { server, endpoint } = await startServer();
    const dealer = jar.add(new zmq.Dealer({ linger: 0 }));
    const failed = new Promise<string>((resolve) => dealer.events.on("handshake:error:protocol", (e) => resolve(e.error.code ?? "")));
    dealer.connect(endpoint);
    await dealer.send(checkFrames(Buffer.from("1"), sha256("x")));
    expect(await withDeadline(failed, 5000, "the plain DEALER's handshake error")).toBe("ERR_ZMTP_MECHANISM_MISMATCH");
    expect(server.stats.lookups + server.stats.dropped).toBe(0);
  });

  it("a CURVE client's malformed request gets an ERROR, and is counted", async () => {
    const { server, endpoint } = await startServer();
    const own = generateKeyPair();
    const dealer = jar.add(
      new zmq.Dealer({ linger: 0, curveServerKey: keys.server.publicKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }),
    );
    dealer.connect(endpoint);
    await dealer.send([Buffer.alloc(0), Buffer.from("CHECK"), Buffer.from("id1"), Buffer.alloc(31)]);
    const reply = fromServer(await withDeadline(dealer.receive(), 5000, "the ERROR"));
    expect(reply).toEqual({ kind: "error", requestId: Buffer.from("id1"), reason: "digest must be 32 bytes, got 31" });
    expect(server.stats.dropped).toBe(1);
  });

  it("takes a frame of MAX_MESSAGE_BYTES through CURVE (libzmq counts its 33 bytes of overhead) and drops a peer that sends one byte more", async () => {
    const { server, endpoint } = await startServer();
    const own = generateKeyPair();
    const dealer = jar.add(
      new zmq.Dealer({ linger: 0, curveServerKey: keys.server.publicKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }),
    );
    const disconnected = new Promise<void>((resolve) => dealer.events.on("disconnect", () => resolve()));
    dealer.connect(endpoint);
    await dealer.send([Buffer.alloc(0), Buffer.from("CHECK"), Buffer.from("big"), Buffer.alloc(MAX_MESSAGE_BYTES)]);
    const reply = fromServer(await withDeadline(dealer.receive(), 5000, "the ERROR for a 4 KiB digest"));
    expect(reply).toMatchObject({ kind: "error", reason: `digest must be 32 bytes, got ${MAX_MESSAGE_BYTES}` });
    await dealer.send([Buffer.alloc(0), Buffer.from("CHECK"), Buffer.from("bigger"), Buffer.alloc(MAX_MESSAGE_BYTES + 1)]);
    await withDeadline(disconnected, 5000, "the server to drop the connection");
    expect(server.stats.dropped).toBe(1);
  });

  it("a client waits for a server that is not up yet (no handshake deadline without TCP) and gets through", async () => {
    const endpoint = await freeTcpEndpoint();
    // Lookups until stopped (not a count of them, which a slow start of the server could use up).
    const { client, done } = runClient(
      clientConfig(endpoint, { count: 0, requestTimeoutMs: 300, intervalMs: 50, handshakeDeadlineMs: 500 }),
    );
    await waitUntil(() => client.stats.recent.some((r) => r.verdict === "not sent"), { timeoutMs: 5000, what: "a lookup not sent" });
    await startServer(endpoint);
    await waitUntil(() => client.stats.lookups > 0, { timeoutMs: 15_000, what: "a lookup answered" });
    expect(client.gaveUpReason).toBeUndefined();
    await tasks.stopAll();
    expect(await withDeadline(done, 15_000, "the client to stop")).toBe(0);
  });
});

/** A TCP relay between a client and a server that keeps every byte it forwards. */
async function recordingRelay(target: string): Promise<{ endpoint: string; bytes: () => Buffer; close: () => void }> {
  const [host, port] = target.replace("tcp://", "").split(":") as [string, string];
  const chunks: Buffer[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const relay: Server = createServer((inbound) => {
    const outbound = createConnection({ host, port: Number(port) });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => undefined);
    }
    inbound.on("data", (d: Buffer) => {
      chunks.push(Buffer.from(d));
      outbound.write(d);
    });
    outbound.on("data", (d: Buffer) => {
      chunks.push(Buffer.from(d));
      inbound.write(d);
    });
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address() as { port: number };
  return {
    endpoint: `tcp://127.0.0.1:${address.port}`,
    bytes: () => Buffer.concat(chunks),
    close: () => {
      for (const s of sockets) s.destroy();
      relay.close();
    },
  };
}

describe("on the wire", () => {
  it("the TCP stream of a CURVE exchange holds none of the plaintext; a NULL exchange through the same relay does", async () => {
    const { endpoint } = await startServer();
    const relay = await recordingRelay(endpoint);
    try {
      const { done } = runClient(clientConfig(relay.endpoint, { count: 5 }));
      expect(await withDeadline(done, 15_000, "five lookups through the relay")).toBe(0);
      const wire = relay.bytes();
      expect(wire.length).toBeGreaterThan(500);
      expect(wire.includes(Buffer.from("CURVE"))).toBe(true); // the greeting names the mechanism in clear
      for (const plain of ["CHECK", "VERDICT", "Demo.Dropper.A", "test-client"]) expect(wire.includes(Buffer.from(plain))).toBe(false);
      expect(wire.includes(sha256(sampleFile(5, 5).content))).toBe(false);
    } finally {
      relay.close();
    }

    // The control: the same frames between plain sockets are there in the clear.
    const router = jar.add(new zmq.Router({ linger: 0 }));
    await router.bind(ANY_LOOPBACK_TCP);
    const plainRelay = await recordingRelay(router.lastEndpoint as string);
    try {
      const dealer = jar.add(new zmq.Dealer({ linger: 0 }));
      dealer.connect(plainRelay.endpoint);
      await dealer.send(checkFrames(Buffer.from("r1"), sha256(sampleFile(5, 5).content)));
      await withDeadline(router.receive(), 5000, "the plain request");
      expect(plainRelay.bytes().includes(Buffer.from("CHECK"))).toBe(true);
    } finally {
      plainRelay.close();
    }
  });
});
