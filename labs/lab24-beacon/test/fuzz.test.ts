// Every port a role binds, fuzzed against the real processes:
// - the UDP beacon port (the device and the scanner both bind it): random bytes, truncated and
//   over-long beacons, wrong headers and versions, spoofed leaves, made-up uuids, huge datagrams;
// - the device's CURVE REP: the kit's fuzzer through a relay whose CURVE client completes the
//   handshake, so the malformed frames reach the application (a plain fuzzer would only ever
//   meet the handshake);
// - the device's TCP port, raw: garbage, ZMTP greetings cut short, a NULL greeting at a CURVE server.
// After each: the process is alive, within its memory bound, and still serves.
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { seededRandom } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, fuzzRole, ProcessPool, type RoleProcess, rssMiB, SocketJar, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { readKeyPair } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import { z85Decode } from "lab19/z85";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer, Request, Router } from "zeromq";
import { writeSigningKey } from "../internal/keys.ts";
import { decodeReply, encodeBeacon, encodeRequest, MAX_CALL_BYTES } from "../internal/protocol.ts";
import { BROADCAST, freeUdpPort, tempDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const jar = new SocketJar();
const tmp = tempDir("fuzz");
afterEach(async () => {
  jar.closeAll();
  await procs.stopAll();
});
afterAll(() => tmp.cleanup());

const FAST = ["--interval", "200", "--expiry", "2000"];

async function startDevice(port: number, name: string): Promise<{ device: RoleProcess; endpoint: string; serverKey: string }> {
  const device = procs.start({
    labDir,
    cmd: "cmd/secure-device.ts",
    name,
    args: ["--name", name, "--cert", join(tmp.dir, "pinned", name), "--beacon-port", String(port), ...FAST],
  });
  const endpoint = (await device.waitForLog("listening", WAIT_MS)).rep as string;
  await device.waitForLog("beaconing", WAIT_MS);
  const { publicKey } = await readKeyPair(join(tmp.dir, "pinned", name));
  return { device, endpoint, serverKey: publicKey };
}

/** A status call over CURVE as any authorised client makes it. */
async function probe(endpoint: string, serverKey: string): Promise<void> {
  const client = generateKeyPair();
  const req = jar.add(
    new Request({ curveServerKey: serverKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey, receiveTimeout: 5000 }),
  );
  req.connect(endpoint);
  await req.send(encodeRequest(42));
  const reply = decodeReply(await withDeadline(req.receive(), 10_000, "the probe's reply"));
  req.close();
  if (!reply.ok || reply.value.seq !== 42) throw new Error(`the probe got ${JSON.stringify(reply)}`);
}

/**
 * Hostile datagrams for the beacon port, from a seed, each with who must refuse it: both roles, or
 * only the scanner (it checks signatures; to a device a signed-size beacon is a v3 beacon with a
 * trailer it does not read, from a node it merely hears).
 */
type Hostile = { datagram: Buffer; kind: string; refusedBy: "both" | "scanner" | "none" };

function hostileDatagrams(count: number, seed: number, victim: Buffer): Hostile[] {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const valid = () => encodeBeacon({ uuid: bytes(16), port: 1 + int(65535), key: bytes(32) });
  const stamp = (ms: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(ms));
    return b;
  };
  const kinds: [string, Hostile["refusedBy"], () => Buffer][] = [
    ["random", "both", () => bytes(int(300))],
    ["empty", "both", () => Buffer.alloc(0)],
    ["truncated", "both", () => valid().subarray(0, int(54))],
    ["too long", "both", () => Buffer.concat([valid(), bytes(1 + int(60))])],
    ["wrong header", "both", () => Buffer.concat([bytes(3), valid().subarray(3)])],
    [
      "wrong version",
      "both",
      () => Buffer.concat([Buffer.from([0x5a, 0x52, 0x45, [0, 2, 4, 0xff][int(4)] as number]), valid().subarray(4)]),
    ],
    ["v1 size as v3", "both", () => Buffer.concat([Buffer.from([0x5a, 0x52, 0x45, 3]), bytes(18)])],
    ["signed size, huge stamp", "both", () => Buffer.concat([valid(), Buffer.alloc(8, 0xff), bytes(64)])],
    ["spoofed leave of the victim", "both", () => encodeBeacon({ uuid: victim, port: 0, key: bytes(32) })],
    ["v1 downgrade of the victim", "both", () => encodeBeacon({ uuid: victim, port: 1 + int(65535) })],
    ["leave from nobody", "both", () => encodeBeacon({ uuid: bytes(16), port: 0, key: bytes(32) })],
    // A fresh stamp and a forged signature: the one kind that costs the scanner a signature check.
    ["fresh stamp, forged signature", "scanner", () => Buffer.concat([valid(), stamp(Date.now()), bytes(64)])],
    ["old stamp, forged signature", "scanner", () => Buffer.concat([valid(), stamp(Date.now() - 3_600_000), bytes(64)])],
  ];
  return Array.from({ length: count }, (_, i): Hostile => {
    // Made-up nodes (valid beacons, fresh uuids) only now and then: each is a "device joined" line.
    if (i % 50 === 0) return { datagram: valid(), kind: "made-up node", refusedBy: "none" };
    if (i % 100 === 25) return { datagram: Buffer.alloc(20_000 + int(40_000), int(256)), kind: "huge", refusedBy: "both" };
    const [kind, refusedBy, make] = kinds[int(kinds.length)] as [string, Hostile["refusedBy"], () => Buffer];
    return { datagram: make(), kind, refusedBy };
  });
}

/**
 * Sends in batches, each when both receivers have caught up with the last (their count of drops
 * reached what was sent, or stopped moving for a moment): a flood faster than a loaded machine
 * reads would only measure the kernel's socket buffers, which drop what overflows them.
 */
async function sendPaced(
  port: number,
  fuzz: Hostile[],
  receivers: { count: () => number; refuses: (h: Hostile) => boolean }[],
): Promise<void> {
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, () => r()));
  socket.setBroadcast(true);
  const base = receivers.map((r) => r.count());
  const expected = receivers.map(() => 0);
  try {
    for (let i = 0; i < fuzz.length; i += BATCH) {
      for (const hostile of fuzz.slice(i, i + BATCH)) {
        await new Promise<void>((resolve, reject) =>
          socket.send(hostile.datagram, port, BROADCAST, (err) => (err ? reject(err) : resolve())),
        );
        receivers.forEach((r, n) => {
          if (r.refuses(hostile)) expected[n] = (expected[n] as number) + 1;
        });
      }
      let last = "";
      let still = performance.now();
      await waitUntil(
        () => {
          const seen = receivers.map((r, n) => r.count() - (base[n] as number));
          if (seen.join() !== last) [last, still] = [seen.join(), performance.now()];
          return seen.every((c, n) => c >= (expected[n] as number)) || performance.now() - still > 500;
        },
        { timeoutMs: WAIT_MS, what: "the receivers to catch up", everyMs: 20 },
      );
    }
  } finally {
    socket.close();
  }
}

const BATCH = 50;

describe("fuzzing the beacon port", () => {
  it("1,200 hostile datagrams at the port the device and the scanner share: each counts what it refuses, both stay up and keep working", async () => {
    const port = await freeUdpPort();
    const { device, endpoint, serverKey } = await startDevice(port, "fuzzed");
    const scanner = procs.start({
      labDir,
      cmd: "cmd/network-scanner.ts",
      name: "scanner",
      args: [
        "--pinned",
        join(tmp.dir, "pinned"),
        "--verify-key",
        await writeSigningKey(join(tmp.dir, `fleet-${port}.key`)),
        "--beacon-port",
        String(port),
        "--poll",
        "200",
        ...FAST,
      ],
    });
    await scanner.waitForLog({ msg: "device named itself over CURVE", name: "fuzzed" }, WAIT_MS);
    const uuid = Buffer.from((device.find("beaconing")[0]?.uuid as string) ?? "", "hex");
    const fuzz = hostileDatagrams(1200, 24, uuid);
    const counted = (p: RoleProcess) => p.find("datagram dropped").length;
    const forScanner = fuzz.filter((h) => h.refusedBy !== "none").length;
    const forDevice = fuzz.filter((h) => h.refusedBy === "both").length;
    await sendPaced(port, fuzz, [
      { count: () => counted(scanner), refuses: (h) => h.refusedBy !== "none" },
      { count: () => counted(device), refuses: (h) => h.refusedBy === "both" },
    ]);
    // Paced, loopback UDP loses next to nothing; a few lost on a very busy machine are allowed for.
    await waitUntil(() => counted(scanner) >= forScanner * 0.95 && counted(device) >= forDevice * 0.95, {
      timeoutMs: WAIT_MS,
      what: `${forScanner} drops counted by the scanner and ${forDevice} by the device`,
    }).catch((err: Error) => {
      throw new Error(`${err.message}: the scanner counted ${counted(scanner)}, the device ${counted(device)}`);
    });
    expect(scanner.find(({ msg, reason }) => msg === "datagram dropped" && reason === "bad signature").length).toBeGreaterThan(20);
    for (const p of [device, scanner]) {
      expect(p.running).toBe(true);
      expect(rssMiB(p.pid as number)).toBeLessThan(MAX_RSS_MIB);
      expect(p.find("message dropped: its handling failed")).toEqual([]);
      expect(p.find("unhandled error")).toEqual([]);
    }
    // The spoofed leaves and downgrades did not remove the device; the scanner still talks to it.
    expect(scanner.find({ msg: "device left", device: "fuzzed" })).toEqual([]);
    expect(scanner.find(({ msg, why }) => msg === "datagram dropped" && why === "key changed").length).toBeGreaterThan(0);
    const from = scanner.logs.length;
    const late = await startDevice(port, "late");
    await scanner.waitForLog({ msg: "device named itself over CURVE", name: "late" }, WAIT_MS, from);
    await probe(endpoint, serverKey);
    expect(late.device.running).toBe(true);
  });
});

/**
 * The kit's fuzzer speaks plain ZMTP; the device speaks only CURVE. The relay takes the fuzz on a
 * plain ROUTER and passes each message on over a CURVE DEALER that has completed the handshake,
 * as any client may (the device does not authenticate clients: Stonehouse). A message over the
 * device's limit goes on a CURVE connection of its own, which the device then drops.
 */
/** Frames the relay passes on its handshaken connection: under the limit with room for CURVE's framing, which libzmq counts too. */
const RELAY_FRAME_BYTES = MAX_CALL_BYTES - 128;

async function curveRelay(endpoint: string, serverKey: string): Promise<{ front: string; forwarded: () => number }> {
  const client = generateKeyPair();
  const curve = { curveServerKey: serverKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey };
  const front = jar.add(new Router({ sendHighWaterMark: 0, receiveHighWaterMark: 0 }));
  await front.bind(ANY_LOOPBACK_TCP);
  const back = jar.add(new Dealer({ ...curve, sendHighWaterMark: 0 }));
  const handshake = new Promise<void>((resolve) => back.events.on("handshake", () => resolve()));
  back.connect(endpoint);
  await withDeadline(handshake, 10_000, "the relay's CURVE handshake");
  let forwarded = 0;
  void (async () => {
    for await (const [, ...message] of front) {
      if (message.some((f) => f.length > RELAY_FRAME_BYTES)) {
        // One of the fuzzer's over-limit messages: made really over the device's limit, on a connection of its own.
        const once = jar.add(new Dealer(curve));
        once.connect(endpoint);
        await once.send(message.map((f) => (f.length > RELAY_FRAME_BYTES ? Buffer.alloc(MAX_CALL_BYTES + 1, 0x62) : f)));
      } else await back.send(message);
      forwarded += 1;
    }
  })().catch(() => {});
  // The device's replies (errors, mostly) are read and dropped.
  void (async () => {
    for await (const _ of back) {
    }
  })().catch(() => {});
  return { front: front.lastEndpoint as string, forwarded: () => forwarded };
}

describe("fuzzing the device's CURVE REP", () => {
  it("1,000 malformed requests through an authorised CURVE client: answered with errors, and a status call still works", async () => {
    const { device, endpoint, serverKey } = await startDevice(await freeUdpPort(), "rep");
    const relay = await curveRelay(endpoint, serverKey);
    const report = await fuzzRole(device, {
      endpoint: relay.front,
      peer: "dealer",
      envelope: true,
      words: ["status"],
      fields: ["v", "op", "seq"],
      maxMessageBytes: RELAY_FRAME_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(endpoint, serverKey),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(relay.forwarded()).toBeGreaterThanOrEqual(1000);
    expect(device.find("bad request answered with an error").length).toBeGreaterThan(100);
    expect(device.find("message dropped: its handling failed")).toEqual([]);
  });
});

describe("raw bytes at the device's TCP port", () => {
  it("300 connections of garbage, cut greetings and a NULL greeting: the device stays up and serves", async () => {
    const { device, endpoint, serverKey } = await startDevice(await freeUdpPort(), "raw");
    const port = Number(endpoint.split(":").pop());
    const rnd = seededRandom(7);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    // ZMTP 3.0 greeting: signature, version 3.0, mechanism (20 octets), as-server, filler.
    const greeting = (mechanism: string) =>
      Buffer.concat([Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0]), Buffer.from(mechanism.padEnd(20, "\0")), Buffer.alloc(32)]);
    const payloads = [
      () => bytes(1 + Math.floor(rnd() * 2000)),
      () => greeting("CURVE").subarray(0, Math.floor(rnd() * 64)),
      () => greeting("NULL"),
      () => Buffer.concat([greeting("CURVE"), bytes(300)]),
      () => Buffer.concat([greeting("CURVE"), Buffer.from([0x04, 200]), Buffer.from("\x05HELLO"), bytes(194)]),
      () => Buffer.alloc(70_000, 0xff),
    ];
    for (let i = 0; i < 300; i++) {
      const payload = (payloads[i % payloads.length] as () => Buffer)();
      await new Promise<void>((resolve) => {
        const socket = connect(port, "127.0.0.1", () => socket.end(payload));
        socket.on("error", () => resolve());
        socket.on("close", () => resolve());
        socket.setTimeout(2000, () => socket.destroy());
        socket.resume();
      });
    }
    expect(device.running).toBe(true);
    await probe(endpoint, serverKey);
    expect(rssMiB(device.pid as number)).toBeLessThan(MAX_RSS_MIB);
    expect(readFileSync(join(tmp.dir, "pinned", "raw"), "utf8")).toContain(serverKey);
    expect(z85Decode(serverKey).ok).toBe(true);
  });
});
