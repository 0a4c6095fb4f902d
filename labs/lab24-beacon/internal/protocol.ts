/**
 * Lab 24 wire protocol: ZRE discovery beacons over UDP (RFC 36/ZRE, and zyre's version 3 with the
 * node's CURVE key), an optional signed trailer of this lab's, and the status call a scanner makes
 * to a device over CURVE REQ-REP.
 *
 * UDP beacon (one datagram; the sender's IP address comes from recvfrom, never from the payload):
 *   v1   22 octets  'Z' 'R' 'E' 0x01 | uuid (16) | port (u16, network order)          RFC 36/ZRE
 *   v3   54 octets  'Z' 'R' 'E' 0x03 | uuid (16) | port (u16) | CURVE public key (32) zyre_node.c
 *   v3s 126 octets  the 54 of v3 | stamp (u64, ms since the Unix epoch) | Ed25519 signature (64)
 *                   over the first 62 octets, made with the fleet's pre-shared signing key (this lab's
 *                   extension: zyre discards it as a wrong size, as it should)
 *   port 0 = "I am leaving". Anything else (another size, header, version) is malformed.
 *
 * CURVE REQ-REP (scanner REQ -> device REP, one frame each way, MessagePack through the kit's codec):
 *   request  {v: 1, op: "status", seq}
 *   reply    {v: 1, seq, name, uptimeMs, served}     or     {v: 1, seq?, error}  for a bad request
 *
 * One decoder per socket: decodeBeacon (the UDP socket), decodeRequest (the device's REP),
 * decodeReply (the scanner's REQ). Each returns a tagged union or a Checked value with a reason.
 */

import type { KeyObject } from "node:crypto";
import { type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";
import { type SigningKey, signBytes, verifyBytes } from "./signing.ts";

export const PROTOCOL_VERSION = 1;

export const ZRE_HEADER = Buffer.from("ZRE");
export const BEACON_V1 = 0x01;
export const BEACON_V3 = 0x03;
export const UUID_BYTES = 16;
export const KEY_BYTES = 32;
export const BEACON_V1_BYTES = 22;
export const BEACON_V3_BYTES = 54;
const STAMP_BYTES = 8;
const SIGNATURE_BYTES = 64;
/** The signed part of a signed beacon: the v3 beacon and the stamp. */
const SIGNED_BYTES = BEACON_V3_BYTES + STAMP_BYTES;
export const BEACON_SIGNED_BYTES = SIGNED_BYTES + SIGNATURE_BYTES;
/** CZMQ's UDP_FRAME_MAX: no beacon is longer; a longer datagram is refused before it is parsed. */
export const MAX_DATAGRAM_BYTES = 255;
/** The port of a leaving node. */
export const LEAVING_PORT = 0;

/** The largest status request or reply: a few small fields. libzmq drops a peer that sends more. */
export const MAX_CALL_BYTES = 4096;
/** A device's name, in characters. */
export const MAX_NAME_CHARS = 64;
/** An error text in a reply, in characters. */
const MAX_ERROR_CHARS = 256;

export interface Beacon {
  version: typeof BEACON_V1 | typeof BEACON_V3;
  /** 16 random octets naming the node for as long as it runs. */
  uuid: Buffer;
  /** The TCP port of its endpoint; 0 when it is leaving. */
  port: number;
  /** Its CURVE public key (v3 only), raw 32 octets. */
  key?: Buffer;
  /** A signed beacon's stamp and signature (not yet verified: the decoder has no key). */
  signed?: { stamp: number; signature: Buffer; message: Buffer };
}

export type BeaconFrame = { kind: "beacon"; beacon: Beacon } | { kind: "invalid"; reason: string };

/** The beacon's bytes as the RFC lays them out (v1 when there is no key, v3 with one). */
export function encodeBeacon(b: { uuid: Buffer; port: number; key?: Buffer }): Buffer {
  const out = Buffer.alloc(b.key ? BEACON_V3_BYTES : BEACON_V1_BYTES);
  ZRE_HEADER.copy(out, 0);
  out[3] = b.key ? BEACON_V3 : BEACON_V1;
  b.uuid.copy(out, 4, 0, UUID_BYTES);
  out.writeUInt16BE(b.port, 4 + UUID_BYTES);
  b.key?.copy(out, BEACON_V1_BYTES, 0, KEY_BYTES);
  return out;
}

/** A v3 beacon with the stamp and an Ed25519 signature over both, by the fleet's key. */
export function encodeSignedBeacon(b: { uuid: Buffer; port: number; key: Buffer }, stamp: number, fleet: SigningKey): Buffer {
  const message = Buffer.alloc(SIGNED_BYTES);
  encodeBeacon(b).copy(message, 0);
  message.writeBigUInt64BE(BigInt(stamp), BEACON_V3_BYTES);
  return Buffer.concat([message, signBytes(message, fleet)]);
}

/** One datagram from the beacon port, checked octet by octet. */
export function decodeBeacon(datagram: Buffer): BeaconFrame {
  if (datagram.length > MAX_DATAGRAM_BYTES) return { kind: "invalid", reason: `${datagram.length} octets, over ${MAX_DATAGRAM_BYTES}` };
  if (datagram.length < BEACON_V1_BYTES) return { kind: "invalid", reason: `${datagram.length} octets, under ${BEACON_V1_BYTES}` };
  if (!datagram.subarray(0, 3).equals(ZRE_HEADER)) return { kind: "invalid", reason: "not a ZRE beacon (header)" };
  const version = datagram[3];
  const expected = version === BEACON_V1 ? [BEACON_V1_BYTES] : version === BEACON_V3 ? [BEACON_V3_BYTES, BEACON_SIGNED_BYTES] : undefined;
  if (!expected) return { kind: "invalid", reason: `unknown beacon version ${String(version)}` };
  if (!expected.includes(datagram.length))
    return { kind: "invalid", reason: `version ${String(version)} with ${datagram.length} octets (expected ${expected.join(" or ")})` };
  const beacon: Beacon = {
    version: version as Beacon["version"],
    // Copies: the datagram's buffer is not kept alive by what the table holds.
    uuid: Buffer.from(datagram.subarray(4, 4 + UUID_BYTES)),
    port: datagram.readUInt16BE(4 + UUID_BYTES),
  };
  if (version === BEACON_V3) beacon.key = Buffer.from(datagram.subarray(BEACON_V1_BYTES, BEACON_V3_BYTES));
  if (datagram.length === BEACON_SIGNED_BYTES) {
    const stamp = datagram.readBigUInt64BE(BEACON_V3_BYTES);
    if (stamp > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: "invalid", reason: "stamp out of range" };
    beacon.signed = {
      stamp: Number(stamp),
      signature: Buffer.from(datagram.subarray(SIGNED_BYTES)),
      message: Buffer.from(datagram.subarray(0, SIGNED_BYTES)),
    };
  }
  return { kind: "beacon", beacon };
}

/** Whether a signed beacon's signature is the fleet's. */
export function signatureValid(signed: NonNullable<Beacon["signed"]>, verifyKey: KeyObject): boolean {
  return verifyBytes(signed.message, signed.signature, verifyKey);
}

/** A uuid as text (32 hex digits), the key of every table. */
export const uuidText = (uuid: Buffer) => uuid.toString("hex");

// ---- the status call over CURVE REQ-REP ----------------------------------------------------------

export interface StatusRequest {
  v: number;
  op: "status";
  seq: number;
}

export interface StatusReply {
  v: number;
  seq: number;
  name: string;
  uptimeMs: number;
  /** Requests this device has answered since it started. */
  served: number;
}

export interface ErrorReply {
  v: number;
  seq?: number;
  error: string;
}

const MAX_SEQ = 2 ** 53 - 1;

export function encodeRequest(seq: number): Buffer {
  return encode({ v: PROTOCOL_VERSION, op: "status", seq } satisfies StatusRequest);
}

/** What a device's REP socket takes: one frame, a status request. */
export function decodeRequest(frames: readonly Buffer[]): Checked<StatusRequest> {
  if (frames.length !== 1) return refuse(`${frames.length} frames, expected 1`);
  const decoded = decodeMap(frames[0], "request");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(r.v)}`);
  if (r.op !== "status") return refuse(`unknown op ${JSON.stringify(String(r.op)).slice(0, 40)}`);
  if (!isInt(r.seq, 0, MAX_SEQ)) return refuse("bad seq");
  return ok({ v: PROTOCOL_VERSION, op: "status", seq: r.seq as number });
}

export function encodeReply(reply: StatusReply | ErrorReply): Buffer {
  return encode(reply);
}

/** What the scanner's REQ socket takes from a device: a status reply (an error reply is refused with its text). */
export function decodeReply(frames: readonly Buffer[]): Checked<StatusReply> {
  if (frames.length !== 1) return refuse(`${frames.length} frames, expected 1`);
  const decoded = decodeMap(frames[0], "reply");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(r.v)}`);
  if (r.error !== undefined) return refuse(isText(r.error, MAX_ERROR_CHARS) ? `device error: ${r.error}` : "bad error reply");
  if (!isInt(r.seq, 0, MAX_SEQ) || !isText(r.name, MAX_NAME_CHARS, 1)) return refuse("bad seq or name");
  if (!isInt(r.uptimeMs, 0, MAX_SEQ) || !isInt(r.served, 0, MAX_SEQ)) return refuse("bad uptimeMs or served");
  return ok({ v: PROTOCOL_VERSION, seq: r.seq as number, name: r.name, uptimeMs: r.uptimeMs as number, served: r.served as number });
}
