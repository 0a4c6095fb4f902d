// The roles in-process over real sockets: UDP beacons on 127.255.255.255 (or a multicast group on
// lo) at a free port, CURVE REQ-REP on 127.0.0.1. Every wait has a deadline.
import { copyFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { readKeyPair } from "lab19/certificates";
import { z85Decode } from "lab19/z85";
import { afterEach, describe, expect, it } from "vitest";
import { capability, Reply } from "zeromq";
import { readSigningKey, writeSigningKey } from "../internal/keys.ts";
import { NetworkScanner } from "../internal/network-scanner.ts";
import { decodeBeacon, decodeRequest, encodeBeacon, encodeReply, encodeSignedBeacon } from "../internal/protocol.ts";
import { SecureDevice } from "../internal/secure-device.ts";
import { newSeed, signingKeyFromSeed } from "../internal/signing.ts";
import type { DeviceRow } from "../internal/view.ts";
import { deviceConfig, freeUdpPort, Recorder, Sender, scannerConfig, tempDir } from "./helpers.ts";

const log = testLogger("lab24");
const WAIT_MS = 10_000;
const tasks = new Tasks();
const jar = new SocketJar();
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
  for (const c of cleanups.splice(0)) c();
});

function folders() {
  const t = tempDir("sockets");
  cleanups.push(t.cleanup);
  return { pinned: join(t.dir, "pinned"), other: join(t.dir, "other"), root: t.dir };
}

async function startDevice(config: ReturnType<typeof deviceConfig>): Promise<SecureDevice> {
  const device = new SecureDevice(config, log);
  await device.start();
  void tasks.run((s) => device.run(s));
  return device;
}

async function startScanner(config: ReturnType<typeof scannerConfig>): Promise<NetworkScanner> {
  const scanner = new NetworkScanner(config, log);
  await scanner.start();
  void tasks.run((s) => scanner.run(s));
  return scanner;
}

const row = (scanner: NetworkScanner, match: (d: DeviceRow) => boolean) => scanner.list().find(match);
const named = (name: string) => (d: DeviceRow) => d.label === name;
const keyLabelOf = (device: SecureDevice) => `${device.publicKey.slice(0, 8)}…`;

function untilRow(scanner: NetworkScanner, match: (d: DeviceRow) => boolean, what: string) {
  return waitUntil(() => row(scanner, match), { timeoutMs: WAIT_MS, what });
}

describe("discovery and the secure channel", () => {
  it("has CURVE", () => expect(capability.curve).toBe(true));

  it("a device is discovered from its beacon and answers status calls over CURVE to its advertised port", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const device = await startDevice(deviceConfig(port, "cam-1", pinned));
    const scanner = await startScanner(scannerConfig(port, pinned));
    const d = await untilRow(scanner, (d) => d.label === "cam-1" && d.replies >= 2, "cam-1 named over CURVE");
    expect(d).toMatchObject({ trust: "pinned", secure: true, presence: "present", endpoint: device.endpoint });
    expect(device.served).toBeGreaterThanOrEqual(2);
  });

  it("several nodes on one host share the beacon port: each scanner hears every device, each device ignores its own beacons", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const devices = [await startDevice(deviceConfig(port, "a", pinned)), await startDevice(deviceConfig(port, "b", pinned))];
    const scanners = [await startScanner(scannerConfig(port, pinned)), await startScanner(scannerConfig(port, pinned))];
    for (const scanner of scanners)
      await waitUntil(() => ["a", "b"].every((n) => row(scanner, (d) => d.label === n && d.secure)), {
        timeoutMs: WAIT_MS,
        what: "both devices at both scanners",
      });
    for (const device of devices) {
      expect(device.snapshot()).toMatchObject({ neighbours: 1 });
      expect(device.ownIgnored).toBeGreaterThan(0);
    }
  });

  it("a device that stops says port 0 and is removed at once (left); one that goes silent is removed after the expiry (vanished)", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const leaving = new SecureDevice(deviceConfig(port, "leaving", pinned), log);
    await leaving.start();
    const controller = new AbortController();
    const run = leaving.run(controller.signal);
    // A node that just goes quiet: beacons from the test, then none (what kill -9 leaves behind).
    const silent = new Sender(port);
    cleanups.push(() => silent.close());
    const uuid = Buffer.alloc(16, 0x5e);
    silent.every(100, () => encodeBeacon({ uuid, port: 1, key: Buffer.alloc(32, 1) }));
    const scanner = await startScanner(scannerConfig(port, pinned, { expiryMs: 1500 }));
    await untilRow(scanner, named("leaving"), "the leaving device named");
    await untilRow(scanner, (d) => d.label.startsWith("5e5e5e5e"), "the silent node listed");
    controller.abort();
    await run;
    const left = await untilRow(scanner, (d) => d.label === "leaving" && d.presence !== "present", "the device gone");
    expect(left.presence).toBe("left");
    silent.stop();
    const quiet = await untilRow(scanner, (d) => d.label.startsWith("5e5e5e5e") && d.presence !== "present", "the silent node quiet");
    expect(quiet.presence).toBe("quiet");
    await untilRow(scanner, (d) => d.label.startsWith("5e5e5e5e") && d.presence === "vanished", "the silent node vanished");
  });

  it("beacons on a multicast group on lo work as broadcast does", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const group = { port, address: "239.24.0.24", multicastInterface: "127.0.0.1" };
    await startDevice(deviceConfig(port, "mc", pinned, { beacon: group }));
    const scanner = await startScanner(scannerConfig(port, pinned, { beacon: group }));
    await untilRow(scanner, (d) => d.label === "mc" && d.secure, "the device over multicast");
  });
});

describe("trust", () => {
  it("a device whose key is not pinned is listed as untrusted and never contacted; pinning its certificate later admits it", async () => {
    const port = await freeUdpPort();
    const { pinned, other } = folders();
    mkdirSync(pinned, { recursive: true });
    const device = await startDevice(deviceConfig(port, "stranger", other));
    const scanner = await startScanner(scannerConfig(port, pinned));
    const d = await untilRow(scanner, (d) => d.key === keyLabelOf(device), "the stranger listed");
    await waitUntil(() => scanner.beacons >= 5, { timeoutMs: WAIT_MS, what: "five beacons heard" });
    expect(row(scanner, (d) => d.key === keyLabelOf(device))).toMatchObject({ trust: "not pinned", secure: false });
    expect(d.label).not.toBe("stranger"); // its name comes only over CURVE
    expect(device.served).toBe(0);
    copyFileSync(join(other, "stranger"), join(pinned, "stranger"));
    await untilRow(scanner, (d) => d.label === "stranger" && d.trust === "pinned" && d.secure, "the stranger admitted once pinned");
  });

  it("a rogue that advertises a pinned key cannot complete the handshake and is marked untrusted", async () => {
    const port = await freeUdpPort();
    const { pinned, other } = folders();
    const real = await startDevice(deviceConfig(port, "real", pinned));
    const rogue = await startDevice(deviceConfig(port, "rogue", other, { impersonate: join(pinned, "real") }));
    const scanner = await startScanner(scannerConfig(port, pinned));
    const bad = await untilRow(scanner, (d) => d.endpoint === rogue.endpoint && d.trust === "untrusted", "the rogue untrusted");
    expect(bad.failure).toMatch(/handshake/);
    expect(bad.key).toBe(keyLabelOf(real));
    expect(rogue.served).toBe(0);
    await untilRow(scanner, (d) => d.label === "real" && d.secure, "the real device still trusted");
  });

  it("a beacon pointing at a port where nobody completes a handshake is untrusted after the deadline", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const device = await startDevice(deviceConfig(port, "victim", pinned));
    // A replayed (unsigned) beacon of a pinned key, pointing to a plain TCP port that accepts and says nothing.
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => server.close());
    const silentPort = (server.address() as { port: number }).port;
    const sender = new Sender(port);
    cleanups.push(() => sender.close());
    const key = z85Decode(device.publicKey);
    if (!key.ok) throw new Error(key.reason);
    sender.every(100, () => encodeBeacon({ uuid: Buffer.alloc(16, 0xab), port: silentPort, key: key.value }));
    const scanner = await startScanner(scannerConfig(port, pinned, { handshakeTimeoutMs: 800 }));
    const bad = await untilRow(scanner, (d) => d.label.startsWith("abababab") && d.trust === "untrusted", "the dead end untrusted");
    expect(bad.failure).toMatch(/no CURVE handshake within 800 ms|handshake failed/);
  });

  it("signed beacons: trusted without a pin; replayed, forged and stale ones, and unsigned ones for that uuid, are dropped and counted", async () => {
    const port = await freeUdpPort();
    const { other, root } = folders();
    const keyFile = join(root, "fleet.key");
    const verifyKey = await writeSigningKey(keyFile);
    const recorder = await Recorder.open(port);
    cleanups.push(() => recorder.close());
    const device = await startDevice(deviceConfig(port, "signed", other, { signingKey: keyFile }));
    const verify = z85Decode(verifyKey);
    if (!verify.ok) throw new Error(verify.reason);
    const scanner = await startScanner(scannerConfig(port, undefined, { verifyKey: verify.value }));
    await untilRow(scanner, (d) => d.label === "signed" && d.trust === "signed" && d.secure, "the signed device over CURVE");
    const captured = recorder.datagrams.find((d) => d.length === 126) as Buffer;
    const beacon = decodeBeacon(captured);
    if (beacon.kind !== "beacon" || !beacon.beacon.key) throw new Error("no signed beacon captured");
    const sender = new Sender(port);
    cleanups.push(() => sender.close());
    await sender.send(captured); // a replay
    const forged = encodeSignedBeacon(
      { uuid: device.uuid, port: 1, key: beacon.beacon.key },
      Date.now() + 5,
      signingKeyFromSeed(newSeed()),
    );
    await sender.send(forged);
    const fleet = await readSigningKey(keyFile);
    const stale = encodeSignedBeacon({ uuid: device.uuid, port: device.port, key: beacon.beacon.key }, Date.now() - 120_000, fleet);
    await sender.send(stale);
    await sender.send(encodeBeacon({ uuid: device.uuid, port: 1, key: beacon.beacon.key })); // unsigned: a downgrade
    await waitUntil(
      () => {
        const d = scanner.drops.byReason;
        return d.replayed && d["bad signature"] && d["stale stamp"] && d.spoofed;
      },
      { timeoutMs: WAIT_MS, what: "the replay, the forgery, the stale one and the unsigned one counted" },
    );
    expect(row(scanner, named("signed"))).toMatchObject({ presence: "present", endpoint: device.endpoint });
  });

  it("a spoofed leave (port 0 with another key) and a downgrade to v1 leave a device where it is", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    const device = await startDevice(deviceConfig(port, "steady", pinned));
    const scanner = await startScanner(scannerConfig(port, pinned));
    await untilRow(scanner, (d) => d.label === "steady" && d.secure, "the device");
    const sender = new Sender(port);
    cleanups.push(() => sender.close());
    await sender.send(encodeBeacon({ uuid: device.uuid, port: 0, key: Buffer.alloc(32, 3) }));
    await sender.send(encodeBeacon({ uuid: device.uuid, port: 0 }));
    await sender.send(encodeBeacon({ uuid: Buffer.alloc(16, 9), port: 0, key: Buffer.alloc(32, 3) })); // a leave from nobody
    await waitUntil(() => (scanner.drops.byReason.spoofed ?? 0) >= 3, { timeoutMs: WAIT_MS, what: "three spoofs counted" });
    expect(row(scanner, named("steady"))).toMatchObject({ presence: "present", secure: true });
  });

  it("a known uuid at a new port (the device moved) gets a new channel to the new endpoint", async () => {
    const port = await freeUdpPort();
    const { pinned } = folders();
    // A device whose beacons the test sends itself, so it can move: two REP servers with one key pair.
    const seed = new SecureDevice(deviceConfig(port, "mover", pinned), log);
    await seed.start(); // writes the pair; not run
    await seed.run(AbortSignal.abort());
    const pair = await readKeyPair(join(pinned, "mover"));
    const key = z85Decode(pair.publicKey);
    if (!key.ok) throw new Error(key.reason);
    const serve = async () => {
      const rep = jar.add(new Reply({ curveServer: true, curveSecretKey: pair.secretKey }));
      await rep.bind(ANY_LOOPBACK_TCP);
      let served = 0;
      void (async () => {
        for await (const [request] of rep) {
          served += 1;
          const call = decodeRequest([request as Buffer]);
          await rep.send(
            encodeReply(call.ok ? { v: 1, seq: call.value.seq, name: "mover", uptimeMs: 1, served } : { v: 1, error: call.reason }),
          );
        }
      })().catch(() => {});
      return { port: Number(rep.lastEndpoint?.split(":").pop()), served: () => served };
    };
    const first = await serve();
    const second = await serve();
    const uuid = Buffer.alloc(16, 0x77);
    const sender = new Sender(port);
    cleanups.push(() => sender.close());
    sender.every(100, () => encodeBeacon({ uuid, port: first.port, key: key.value }));
    const scanner = await startScanner(scannerConfig(port, pinned));
    await untilRow(scanner, (d) => d.label === "mover" && d.endpoint.endsWith(`:${first.port}`) && d.replies > 0, "the first endpoint");
    sender.every(100, () => encodeBeacon({ uuid, port: second.port, key: key.value }));
    await waitUntil(() => second.served() > 0, { timeoutMs: WAIT_MS, what: "a status call at the new endpoint" });
    expect(row(scanner, named("mover"))?.endpoint).toBe(`tcp://127.0.0.1:${second.port}`);
  });
});
