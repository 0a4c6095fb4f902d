// The server's one bound socket, fuzzed against the real process in three ways: the kit's 1,000
// malformed messages through an authenticated CURVE connection (the kit's fuzzer speaks only NULL,
// so a bridge in this test re-sends its messages over CURVE), the same fuzz in plaintext (refused
// at the mechanism), and garbage bytes at the raw TCP port (greetings, HELLOs, frames nobody sends).
import { randomBytes } from "node:crypto";
import { createConnection } from "node:net";
import { freeTcpEndpoint, fuzzRole, ProcessPool, type RoleProcess, rssMiB, SocketJar, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { type CurveKeyPair, generateKeyPair } from "../internal/keys.ts";
import { CHECK, checkFrames, ERROR, fromServer, MAX_MESSAGE_BYTES, VERDICT } from "../internal/protocol.ts";
import { EICAR, sha256 } from "../internal/threat-intel.ts";
import { keyFolder, labDir } from "./helpers.ts";

const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const jar = new SocketJar();
let keys: Awaited<ReturnType<typeof keyFolder>>;

beforeAll(async () => {
  keys = await keyFolder();
});
afterAll(() => keys.cleanup());
afterEach(async () => {
  jar.closeAll();
  await procs.stopAll();
});

function curveDealer(
  serverKey: string,
  own: CurveKeyPair = generateKeyPair(),
  more: ConstructorParameters<typeof zmq.Dealer>[0] = {},
): zmq.Dealer {
  return jar.add(new zmq.Dealer({ curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey, ...more }));
}

/** A valid lookup over a fresh CURVE connection: the EICAR digest must come back malicious. */
async function probe(endpoint: string): Promise<void> {
  const dealer = curveDealer(keys.server.publicKey, generateKeyPair(), { receiveTimeout: 10_000 });
  try {
    dealer.connect(endpoint);
    await dealer.send(checkFrames(Buffer.from("probe"), sha256(EICAR)));
    const reply = fromServer(await withDeadline(dealer.receive(), 15_000, "the probe's verdict"));
    if (reply.kind !== "verdict" || reply.verdict !== "malicious") throw new Error(`the probe got ${JSON.stringify(reply)}`);
  } finally {
    dealer.close();
  }
}

async function startServer(): Promise<{ server: RoleProcess; endpoint: string }> {
  const endpoint = await freeTcpEndpoint();
  const server = procs.start({
    labDir,
    cmd: "cmd/secure-server.ts",
    name: "server",
    args: ["--bind", endpoint, "--cert", keys.serverCert, "--handshake-interval", "1000"],
  });
  await server.waitForLog("listening", WAIT_MS);
  await probe(endpoint);
  return { server, endpoint };
}

/**
 * A plain ROUTER for the kit's fuzzer, re-sending every message it gets, as it is, over an
 * authenticated CURVE DEALER to the server. A message over the server's limit goes on a CURVE
 * connection of its own, as the kit's fuzzer does, since the server drops the connection that sent it.
 */
async function curveBridge(target: string): Promise<string> {
  const front = jar.add(new zmq.Router({ receiveHighWaterMark: 0 }));
  await front.bind("tcp://127.0.0.1:*");
  const back = curveDealer(keys.server.publicKey, generateKeyPair(), { sendHighWaterMark: 0 });
  back.connect(target);
  void (async () => {
    for await (const [, ...frames] of front) {
      if (frames.some((f) => f.length > MAX_MESSAGE_BYTES)) {
        const once = curveDealer(keys.server.publicKey, generateKeyPair(), { linger: 2000 });
        once.connect(target);
        await once.send(frames);
        once.close();
      } else await back.send(frames);
    }
  })().catch(() => undefined);
  void (async () => {
    for await (const _reply of back); // the server's ERRORs: drained
  })().catch(() => undefined);
  return front.lastEndpoint as string;
}

describe("fuzzing the secure server", () => {
  it("1,000 malformed messages through an authenticated CURVE connection: counted and dropped, the server still answers", async () => {
    const { server, endpoint } = await startServer();
    const bridge = await curveBridge(endpoint);
    const report = await fuzzRole(server, {
      endpoint: bridge,
      peer: "dealer",
      envelope: true,
      words: [CHECK, VERDICT, ERROR],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(endpoint),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    // The fuzz reached the protocol code (through CURVE), not just the handshake.
    expect(server.find("malformed request dropped").length).toBeGreaterThan(300);
    expect(server.find("message dropped: its handling failed")).toEqual([]);
  });

  it("garbage bytes at the raw TCP port: greetings, bad HELLOs, huge frame sizes, silence; the server survives and answers", async () => {
    const { server, endpoint } = await startServer();
    const port = Number(endpoint.split(":").pop());
    const greeting = (mechanism: string, minor = 0) => {
      const g = Buffer.alloc(64);
      g[0] = 0xff;
      g[9] = 0x7f;
      g[10] = 3;
      g[11] = minor;
      g.write(mechanism, 12, "latin1");
      return g;
    };
    const command = (name: string, body: Buffer) => {
      const payload = Buffer.concat([Buffer.from([name.length]), Buffer.from(name), body]);
      return payload.length < 256
        ? Buffer.concat([Buffer.from([0x04, payload.length]), payload])
        : Buffer.concat([Buffer.from([0x06, 0, 0, 0, 0, 0, 0, (payload.length >> 8) & 0xff, payload.length & 0xff]), payload]);
    };
    const hugeFrame = Buffer.from([0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const attacks: Buffer[][] = [
      [randomBytes(1)],
      [randomBytes(64)],
      [randomBytes(4096)],
      [greeting("NULL"), command("READY", Buffer.from([11, ...Buffer.from("Socket-Type"), 0, 0, 0, 6, ...Buffer.from("DEALER")]))],
      [greeting("PLAIN"), command("HELLO", Buffer.from([4, ...Buffer.from("user"), 4, ...Buffer.from("pass")]))],
      [greeting("CURVE"), command("HELLO", randomBytes(194))], // right size, random crypto
      [greeting("CURVE"), command("HELLO", randomBytes(10))], // too short
      [greeting("CURVE"), command("INITIATE", randomBytes(300))], // out of order
      [greeting("CURVE"), hugeFrame],
      [greeting("CURVE", 255), randomBytes(200)],
      [greeting("CURVE").subarray(0, 20)], // half a greeting, then silence: the handshake interval ends it
      [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ];
    const rounds = 25;
    let connections = 0;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        attacks.map(
          (chunks) =>
            new Promise<void>((resolve) => {
              const socket = createConnection({ host: "127.0.0.1", port });
              connections += 1;
              socket.on("error", () => resolve());
              socket.on("close", () => resolve());
              socket.on("data", () => undefined);
              socket.on("connect", () => {
                for (const c of chunks) socket.write(c);
                // Leave some open (the server's handshake interval must close them), end the rest.
                if (round % 5 !== 0) socket.end();
                setTimeout(() => socket.destroy(), 3000).unref();
              });
            }),
        ),
      );
    }
    expect(connections).toBe(rounds * attacks.length);
    await probe(endpoint);
    expect(server.running).toBe(true);
    expect(server.find(/^handshake failed/).length).toBeGreaterThan(0);
    expect(rssMiB(server.pid as number)).toBeLessThan(MAX_RSS_MIB);
  });
});
