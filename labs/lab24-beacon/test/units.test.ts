// The beacon codec octet by octet, the status call's codec, the peer table's rules and the
// signature and replay checks: table-driven, no sockets.
import { encode } from "@zlabs/kit";
import { testLogger } from "@zlabs/kit/testing";
import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import { Drops } from "../internal/drops.ts";
import { PeerTable } from "../internal/peers.ts";
import {
  BEACON_SIGNED_BYTES,
  type Beacon,
  decodeBeacon,
  decodeReply,
  decodeRequest,
  encodeBeacon,
  encodeReply,
  encodeRequest,
  encodeSignedBeacon,
} from "../internal/protocol.ts";
import { newSeed, signingKeyFromSeed } from "../internal/signing.ts";
import { BeaconVerifier } from "../internal/trust.ts";

const uuid = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const key = Buffer.alloc(32, 7);
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const beaconOf = (datagram: Buffer): Beacon => {
  const frame = decodeBeacon(datagram);
  if (frame.kind !== "beacon") throw new Error(frame.reason);
  return frame.beacon;
};

describe("the ZRE beacon", () => {
  it("v1 is 22 octets: Z R E 0x01, the uuid, the port in network order (RFC 36)", () => {
    const bytes = encodeBeacon({ uuid, port: 0xc001 });
    expect(bytes).toEqual(hex("5a5245 01 00112233445566778899aabbccddeeff c001"));
    expect(beaconOf(bytes)).toEqual({ version: 1, uuid, port: 0xc001 });
  });

  it("v3 is 54 octets: the 22 with version 0x03, then the 32-octet CURVE public key (zyre)", () => {
    const bytes = encodeBeacon({ uuid, port: 5670, key });
    expect(bytes.length).toBe(54);
    expect(bytes.subarray(0, 4)).toEqual(hex("5a524503"));
    expect(bytes.readUInt16BE(20)).toBe(5670);
    expect(bytes.subarray(22)).toEqual(key);
    expect(beaconOf(bytes)).toEqual({ version: 3, uuid, port: 5670, key });
  });

  it("a signed v3 beacon is 126 octets: the 54, a u64 stamp, an Ed25519 signature over both", () => {
    const fleet = signingKeyFromSeed(newSeed());
    const bytes = encodeSignedBeacon({ uuid, port: 40000, key }, 1_780_000_000_123, fleet);
    expect(bytes.length).toBe(BEACON_SIGNED_BYTES);
    expect(bytes.readBigUInt64BE(54)).toBe(1_780_000_000_123n);
    const b = beaconOf(bytes);
    expect(b).toMatchObject({ version: 3, port: 40000, key, signed: { stamp: 1_780_000_000_123 } });
    // Any Ed25519 implementation checks it: tweetnacl does, with the raw verify key.
    expect(nacl.sign.detached.verify(bytes.subarray(0, 62), bytes.subarray(62), fleet.publicKey)).toBe(true);
  });

  it("port 0 is a beacon too: the node is leaving", () => {
    expect(beaconOf(encodeBeacon({ uuid, port: 0 })).port).toBe(0);
  });

  const v1 = encodeBeacon({ uuid, port: 1 });
  const v3 = encodeBeacon({ uuid, port: 1, key });
  it.each([
    ["empty", Buffer.alloc(0), "0 octets, under 22"],
    ["truncated v1", v1.subarray(0, 21), "21 octets, under 22"],
    ["v1 with a trailing octet", Buffer.concat([v1, Buffer.from([0])]), "version 1 with 23 octets (expected 22)"],
    ["v3 cut to 22", Buffer.concat([v3.subarray(0, 22)]), "version 3 with 22 octets (expected 54 or 126)"],
    ["v3 one short", v3.subarray(0, 53), "version 3 with 53 octets (expected 54 or 126)"],
    ["wrong header", Buffer.concat([Buffer.from("ZRF"), v1.subarray(3)]), "not a ZRE beacon (header)"],
    ["lower-case header", Buffer.concat([Buffer.from("zre"), v1.subarray(3)]), "not a ZRE beacon (header)"],
    ["version 2", Buffer.concat([Buffer.from([0x5a, 0x52, 0x45, 2]), v1.subarray(4)]), "unknown beacon version 2"],
    ["version 0", Buffer.concat([Buffer.from([0x5a, 0x52, 0x45, 0]), v1.subarray(4)]), "unknown beacon version 0"],
    ["over 255 octets", Buffer.alloc(256, 0x5a), "256 octets, over 255"],
    ["a 64 KiB datagram", Buffer.alloc(65_507), "65507 octets, over 255"],
  ])("refuses %s", (_what, datagram, reason) => {
    expect(decodeBeacon(datagram)).toEqual({ kind: "invalid", reason });
  });

  it("keeps no reference to the datagram's memory", () => {
    const datagram = Buffer.from(v3);
    const b = beaconOf(datagram);
    datagram.fill(0);
    expect(b.uuid).toEqual(uuid);
    expect(b.key).toEqual(key);
  });
});

describe("the status call", () => {
  it("round-trips a request and a reply, and refuses what is not one", () => {
    expect(decodeRequest([encodeRequest(7)])).toEqual({ ok: true, value: { v: 1, op: "status", seq: 7 } });
    expect(decodeRequest([encodeRequest(7), Buffer.alloc(0)])).toEqual({ ok: false, reason: "2 frames, expected 1" });
    expect(decodeRequest([encode({ v: 1, op: "reboot", seq: 1 })])).toEqual({ ok: false, reason: 'unknown op "reboot"' });
    expect(decodeRequest([encode({ v: 2, op: "status", seq: 1 })])).toEqual({ ok: false, reason: "unsupported version 2" });
    expect(decodeRequest([encode({ v: 1, op: "status", seq: -1 })])).toEqual({ ok: false, reason: "bad seq" });
    expect(decodeRequest([Buffer.from([0xc1])])).toMatchObject({ ok: false, reason: expect.stringMatching(/^request/) });
    const reply = { v: 1, seq: 7, name: "cam-1", uptimeMs: 1234, served: 3 };
    expect(decodeReply([encodeReply(reply)])).toEqual({ ok: true, value: reply });
    expect(decodeReply([encodeReply({ v: 1, error: "bad seq" })])).toEqual({ ok: false, reason: "device error: bad seq" });
    expect(decodeReply([encode({ ...reply, name: "" })])).toEqual({ ok: false, reason: "bad seq or name" });
    expect(decodeReply([encode({ ...reply, name: "x".repeat(65) })])).toEqual({ ok: false, reason: "bad seq or name" });
    expect(decodeReply([encode({ ...reply, uptimeMs: 1.5 })])).toEqual({ ok: false, reason: "bad uptimeMs or served" });
  });
});

describe("the peer table", () => {
  const at = (version: 1 | 3, port: number, k?: Buffer): Beacon => ({ version, uuid, port, ...(k ? { key: k } : {}) });
  const other = Buffer.alloc(32, 9);

  it.each([
    ["a leave from a node never heard", [], at(3, 0, key), "refused", "leave from an unknown node"],
    ["a first beacon", [], at(3, 4000, key), "joined", undefined],
    ["the same again", [at(3, 4000, key)], at(3, 4000, key), "heard", undefined],
    ["a new port", [at(3, 4000, key)], at(3, 4001, key), "moved", undefined],
    ["port 0", [at(3, 4000, key)], at(3, 0, key), "left", undefined],
    ["port 0 with another key (a spoofed leave)", [at(3, 4000, key)], at(3, 0, other), "refused", "key changed"],
    ["another key for the uuid", [at(3, 4000, key)], at(3, 4000, other), "refused", "key changed"],
    ["v1 after v3 (a downgrade)", [at(3, 4000, key)], at(1, 4000), "refused", "downgrade to v1"],
    ["a v1 leave after v3", [at(3, 4000, key)], at(1, 0), "refused", "downgrade to v1"],
    ["v1 after v1", [at(1, 4000)], at(1, 4000), "heard", undefined],
  ] as const)("%s: %s", (_what, before, beacon, kind, reason) => {
    const table = new PeerTable(5000);
    for (const b of before) table.observe(b, "127.0.0.1", 0);
    const seen = table.observe(beacon, "127.0.0.1", 10);
    expect(seen.kind).toBe(kind);
    if (reason) expect(seen).toMatchObject({ reason });
  });

  it("a full table refuses new uuids, still hears known ones, and takes new ones once some expire", () => {
    const table = new PeerTable(5000, 2);
    const node = (n: number, port = 4000): Beacon => ({ version: 3, uuid: Buffer.alloc(16, n), port, key });
    expect(table.observe(node(1), "127.0.0.1", 0).kind).toBe("joined");
    expect(table.observe(node(2), "127.0.0.1", 3000).kind).toBe("joined");
    expect(table.observe(node(3), "127.0.0.1", 3000)).toMatchObject({ kind: "refused", reason: "table full" });
    expect(table.observe(node(1), "127.0.0.1", 3000).kind).toBe("heard");
    expect(table.expire(7999)).toEqual([]);
    expect(table.expire(8000).length).toBe(2);
    expect(table.observe(node(3), "127.0.0.1", 8000).kind).toBe("joined");
  });

  it("a new address for a known uuid is a move", () => {
    const table = new PeerTable(5000);
    table.observe(at(3, 4000, key), "127.0.0.1", 0);
    expect(table.observe(at(3, 4000, key), "127.0.0.2", 1)).toMatchObject({ kind: "moved", from: "tcp://127.0.0.1:4000" });
  });

  it("an unsigned beacon for a uuid known by signed ones is refused", () => {
    const table = new PeerTable(5000);
    table.observe(at(3, 4000, key), "127.0.0.1", 0, true);
    expect(table.observe(at(3, 4000, key), "127.0.0.1", 1, false)).toMatchObject({ kind: "refused", reason: "signature missing" });
  });

  it("expires a peer after the silence, not after one lost beacon; other traffic counts as presence", () => {
    const table = new PeerTable(5000);
    table.observe(at(3, 4000, key), "127.0.0.1", 0);
    table.observe({ ...at(3, 4000, key), uuid: Buffer.alloc(16, 1) }, "127.0.0.1", 0);
    expect(table.expire(2000)).toEqual([]); // a beacon or two lost
    table.observe(at(3, 4000, key), "127.0.0.1", 2000);
    table.heard(Buffer.alloc(16, 1).toString("hex"), 4000);
    expect(table.expire(6999)).toEqual([]);
    expect(table.expire(7000).map((p) => p.port)).toEqual([4000]);
    expect(table.expire(9000).length).toBe(1);
    expect(table.size).toBe(0);
  });
});

describe("signed beacons: signature and replay", () => {
  const fleet = signingKeyFromSeed(newSeed());
  const now = 1_780_000_000_000;
  const signed = (stamp: number, by = fleet) => beaconOf(encodeSignedBeacon({ uuid, port: 4000, key }, stamp, by));

  it("takes a fresh stamp once, refuses it again (a replay), an older one, a stale one and a forged one", () => {
    const verifier = new BeaconVerifier(fleet.publicKey, 30_000, () => now);
    expect(verifier.check(signed(now))).toEqual({ ok: true, signed: true });
    expect(verifier.check(signed(now))).toEqual({ ok: false, reason: "replayed" });
    expect(verifier.check(signed(now - 1))).toEqual({ ok: false, reason: "replayed" });
    expect(verifier.check(signed(now + 1))).toEqual({ ok: true, signed: true });
    expect(verifier.check(signed(now - 30_001))).toEqual({ ok: false, reason: "stale stamp" });
    expect(verifier.check(signed(now + 30_001))).toEqual({ ok: false, reason: "stale stamp" });
    expect(verifier.check(signed(now + 2, signingKeyFromSeed(newSeed())))).toEqual({ ok: false, reason: "bad signature" });
    const tampered = encodeSignedBeacon({ uuid, port: 4000, key }, now + 3, fleet);
    tampered.writeUInt16BE(4001, 20); // the port changed after signing
    expect(verifier.check(beaconOf(tampered))).toEqual({ ok: false, reason: "bad signature" });
  });

  it("signs as tweetnacl does (Ed25519 is deterministic): the same seed, the same key and signature", () => {
    const seed = newSeed();
    const ours = signingKeyFromSeed(seed);
    const theirs = nacl.sign.keyPair.fromSeed(seed);
    expect(ours.publicKey).toEqual(Buffer.from(theirs.publicKey));
    expect(encodeSignedBeacon({ uuid, port: 1, key }, 5, ours).subarray(62)).toEqual(
      Buffer.from(nacl.sign.detached(encodeSignedBeacon({ uuid, port: 1, key }, 5, ours).subarray(0, 62), theirs.secretKey)),
    );
  });

  it("an unsigned beacon passes as unsigned; without a verify key a signature proves nothing", () => {
    expect(new BeaconVerifier(fleet.publicKey).check(beaconOf(encodeBeacon({ uuid, port: 1, key })))).toEqual({ ok: true, signed: false });
    expect(new BeaconVerifier(undefined).check(signed(now))).toEqual({ ok: true, signed: false });
  });
});

describe("drop counting", () => {
  it("counts every drop by reason and warns at most once a second", () => {
    let t = 0;
    const drops = new Drops(testLogger("lab24"), "datagram", () => t);
    for (let i = 0; i < 100; i++) drops.count(i % 2 ? "malformed" : "spoofed");
    t = 2000;
    drops.count("replayed");
    expect(drops.byReason).toEqual({ malformed: 50, spoofed: 50, replayed: 1 });
    expect(drops.total).toBe(101);
  });
});
