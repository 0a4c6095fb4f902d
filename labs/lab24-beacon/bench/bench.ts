// pnpm --filter lab24 bench [-- --seconds 2 --devices 8]
//
// 1. What one datagram costs the scanner, by kind, in-process (decode and the signature and replay
//    checks, no sockets): an unsigned v3 beacon, a signed one, a forged one with a fresh stamp (the
//    one kind that costs a signature check), and junk; and Ed25519 verify with tweetnacl against
//    node's OpenSSL, the reason the lab signs with node:crypto.
// 2. Discovery over real sockets: devices started one after another on a free UDP port; the time
//    from a device's first beacon to the scanner's first status reply over CURVE.
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { testLogger, waitUntil } from "@zlabs/kit/testing";
import nacl from "tweetnacl";
import { NetworkScanner } from "../internal/network-scanner.ts";
import { decodeBeacon, encodeBeacon, encodeSignedBeacon } from "../internal/protocol.ts";
import { SecureDevice } from "../internal/secure-device.ts";
import { newSeed, signBytes, signingKeyFromSeed, verifyBytes, verifyKeyFrom } from "../internal/signing.ts";
import { BeaconVerifier } from "../internal/trust.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" }, devices: { type: "string", default: "8" } } });
const seconds = Number(values.seconds);
const deviceCount = Number(values.devices);

function rate(what: string, fn: (i: number) => unknown): number {
  for (let i = 0; i < 50; i++) fn(i); // warm-up
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) fn(n++);
  const perSecond = n / ((performance.now() - start) / 1000);
  console.log(
    `${what.padEnd(58)} ${Math.round(perSecond).toLocaleString("en-US").padStart(12)} /s  ${(1e6 / perSecond).toFixed(1).padStart(9)} µs each`,
  );
  return perSecond;
}

function perDatagram(): void {
  console.log(`\n1. One datagram at the scanner (decode + signature and replay checks), ${seconds} s each`);
  const fleet = signingKeyFromSeed(newSeed());
  const key = Buffer.alloc(32, 7);
  const uuid = Buffer.alloc(16, 1);
  const verifier = new BeaconVerifier(fleet.publicKey);
  const unsigned = encodeBeacon({ uuid, port: 5000, key });
  const forged = Buffer.concat([encodeBeacon({ uuid, port: 5000, key }), Buffer.alloc(8), Buffer.alloc(64, 9)]);
  const junk = Buffer.alloc(100, 0x41);
  const check = (datagram: Buffer) => {
    const frame = decodeBeacon(datagram);
    return frame.kind === "beacon" ? verifier.check(frame.beacon) : frame;
  };
  rate("junk (refused by the decoder)", () => check(junk));
  rate("unsigned v3 beacon", () => check(unsigned));
  // A fresh stamp each time (strictly newer), so each one is verified and accepted.
  let stamp = Date.now();
  rate("signed v3 beacon (verified, accepted)", () => check(encodeSignedBeacon({ uuid, port: 5000, key }, ++stamp, fleet)));
  rate("  of which: signing it (the device's side)", () => encodeSignedBeacon({ uuid, port: 5000, key }, ++stamp, fleet));
  rate("forged signature, fresh stamp (verified, refused)", () => {
    forged.writeBigUInt64BE(BigInt(Date.now()), 54);
    return check(forged);
  });
  rate("forged signature, stale stamp (refused before verify)", () => check(forged.fill(0, 54, 62)));
  const message = Buffer.from(forged.subarray(0, 62));
  const signature = signBytes(message, fleet);
  const verifyKey = verifyKeyFrom(fleet.publicKey);
  rate("Ed25519 verify alone, node:crypto (OpenSSL)", () => verifyBytes(message, signature, verifyKey));
  rate("Ed25519 verify alone, tweetnacl (pure JS)", () => nacl.sign.detached.verify(message, signature, fleet.publicKey));
}

async function discovery(): Promise<void> {
  console.log(`\n2. Discovery on this host: ${deviceCount} devices started one after another, 1 s beacon interval`);
  const log = testLogger("lab24");
  const dir = mkdtempSync(join(tmpdir(), "lab24-bench-"));
  const port = await new Promise<number>((resolve) => {
    const s = createSocket("udp4");
    s.bind(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const beacon = { port, address: "127.255.255.255" };
  const scanner = new NetworkScanner(
    {
      beacon,
      pinnedDir: dir,
      maxSkewMs: 30_000,
      intervalMs: 1000,
      expiryMs: 5000,
      handshakeTimeoutMs: 3000,
      pollMs: 2000,
      requestTimeoutMs: 1500,
      goneShownMs: 15_000,
    },
    log,
  );
  await scanner.start();
  const stop = new AbortController();
  const runs: Promise<void>[] = [scanner.run(stop.signal)];
  const times: number[] = [];
  try {
    for (let i = 0; i < deviceCount; i++) {
      const name = `bench-${i}`;
      const device = new SecureDevice(
        { name, cert: join(dir, name), bind: "tcp://127.0.0.1:*", beacon, intervalMs: 1000, expiryMs: 5000 },
        log,
      );
      await device.start();
      const t0 = performance.now();
      runs.push(device.run(stop.signal));
      await waitUntil(() => scanner.list().find((d) => d.label === name && d.replies > 0), { timeoutMs: 10_000, what: name, everyMs: 1 });
      times.push(performance.now() - t0);
    }
  } finally {
    stop.abort();
    await Promise.all(runs);
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(1);
  console.log(`first beacon -> first status reply over CURVE: median ${at(0.5)} ms, min ${at(0)} ms, max ${at(1)} ms`);
}

perDatagram();
await discovery();
