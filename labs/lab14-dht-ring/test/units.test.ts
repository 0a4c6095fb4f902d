// The decoders of each socket, table-driven, and the beacon's bytes.
import { encode } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import {
  BEACON_BYTES,
  decodeBeacon,
  encodeBeacon,
  encodeHello,
  encodeReply,
  encodeRequest,
  fromMailbox,
  fromMailboxReply,
  HOP_LIMIT,
  MAX_VALUE_BYTES,
  newer,
  peerIdentity,
  peerOf,
  XFER_BATCH,
} from "../internal/protocol.ts";

const ID = "0123456789abcdef0123456789abcdef";
const PEER = peerIdentity(ID);
const CLIENT = Buffer.from([0, 1, 2, 3, 4]);
const f = (command: string, body: unknown) => [Buffer.from(command), encode(body)];
const item = { key: "k", value: Buffer.from("v"), version: 5, writer: ID, deleted: false };

describe("beacon", () => {
  it("is 'D' 'H' 'T' 0x01, the uuid, the port in network order: 22 octets", () => {
    const uuid = Buffer.from(ID, "hex");
    const b = encodeBeacon(uuid, 5141);
    expect(b).toHaveLength(BEACON_BYTES);
    expect(b.subarray(0, 4)).toEqual(Buffer.from([0x44, 0x48, 0x54, 0x01]));
    expect(b.readUInt16BE(20)).toBe(5141);
    expect(decodeBeacon(b)).toEqual({ kind: "beacon", id: ID, port: 5141 });
    expect(decodeBeacon(encodeBeacon(uuid, 0))).toEqual({ kind: "beacon", id: ID, port: 0 });
  });

  it.each([
    ["short", Buffer.alloc(21)],
    ["long", Buffer.alloc(23)],
    ["a ZRE beacon", Buffer.concat([Buffer.from("ZRE\x01"), Buffer.alloc(18)])],
    ["another version", Buffer.concat([Buffer.from("DHT\x02"), Buffer.alloc(18)])],
  ])("refuses %s", (_what, d) => {
    expect(decodeBeacon(d).kind).toBe("invalid");
  });
});

describe("the mailbox ROUTER's decoder", () => {
  it("peer identities are 0x01 and the uuid", () => {
    expect(PEER).toHaveLength(17);
    expect(peerOf(PEER)).toBe(ID);
    expect(peerOf(CLIENT)).toBeUndefined();
  });

  it.each([
    ["GET", [CLIENT, ...encodeRequest({ op: "GET", rid: 1, key: "k", hops: 0 })], "request"],
    ["PUT", [CLIENT, ...encodeRequest({ op: "PUT", rid: 1, key: "k", value: Buffer.from("v"), hops: 2 })], "request"],
    ["PUT with a str value", [CLIENT, ...f("PUT", { rid: 1, key: "k", value: "text", hops: 0 })], "request"],
    ["DEL", [CLIENT, ...encodeRequest({ op: "DEL", rid: 1, key: "k", hops: 0 })], "request"],
    ["OWNERS", [CLIENT, ...encodeRequest({ op: "OWNERS", rid: 1, key: "k" })], "request"],
    ["HELLO", [PEER, ...encodeHello({ id: ID, endpoint: "tcp://127.0.0.1:5141", name: "n1" })], "hello"],
    ["REPL", [PEER, ...encodeRequest({ op: "REPL", rid: 1, ...item })], "request"],
    ["a tombstone", [PEER, ...encodeRequest({ op: "REPL", rid: 1, ...item, value: undefined, deleted: true })], "request"],
    ["FETCH", [PEER, ...encodeRequest({ op: "FETCH", rid: 1, key: "k" })], "request"],
    ["XFER", [PEER, ...encodeRequest({ op: "XFER", rid: 1, items: [item, { ...item, key: "k2" }] })], "request"],
    ["HELLO from a client identity", [CLIENT, ...encodeHello({ id: ID, endpoint: "tcp://127.0.0.1:1", name: "x" })], "invalid"],
    [
      "HELLO whose id is not the routing id's",
      [PEER, ...encodeHello({ id: "f".repeat(32), endpoint: "tcp://127.0.0.1:1", name: "x" })],
      "invalid",
    ],
    ["HELLO with a bad endpoint", [PEER, ...encodeHello({ id: ID, endpoint: "ipc:///x", name: "x" })], "invalid"],
    ["HELLO of version 2", [PEER, ...f("HELLO", { v: 2, id: ID, endpoint: "tcp://127.0.0.1:1", name: "x" })], "invalid"],
    ["REPL from a client", [CLIENT, ...encodeRequest({ op: "REPL", rid: 1, ...item })], "invalid"],
    ["XFER from a client", [CLIENT, ...encodeRequest({ op: "XFER", rid: 1, items: [item] })], "invalid"],
    ["XFER with no items", [PEER, ...f("XFER", { rid: 1, items: [] })], "invalid"],
    ["XFER over the batch", [PEER, ...encodeRequest({ op: "XFER", rid: 1, items: Array(XFER_BATCH + 1).fill(item) })], "invalid"],
    ["a tombstone with a value", [PEER, ...f("REPL", { rid: 1, ...item, deleted: true })], "invalid"],
    ["a bad writer", [PEER, ...f("REPL", { rid: 1, ...item, writer: "x" })], "invalid"],
    ["hops past the limit", [CLIENT, ...f("GET", { rid: 1, key: "k", hops: HOP_LIMIT + 1 })], "invalid"],
    ["a negative rid", [CLIENT, ...f("GET", { rid: -1, key: "k", hops: 0 })], "invalid"],
    ["a float rid", [CLIENT, ...f("GET", { rid: 1.5, key: "k", hops: 0 })], "invalid"],
    ["an empty key", [CLIENT, ...f("GET", { rid: 1, key: "", hops: 0 })], "invalid"],
    ["a long key", [CLIENT, ...f("GET", { rid: 1, key: "k".repeat(257), hops: 0 })], "invalid"],
    ["a value over 16 KiB", [CLIENT, ...f("PUT", { rid: 1, key: "k", value: Buffer.alloc(MAX_VALUE_BYTES + 1), hops: 0 })], "invalid"],
    ["a PUT without a value", [CLIENT, ...f("PUT", { rid: 1, key: "k", hops: 0 })], "invalid"],
    ["an unknown command", [CLIENT, ...f("STATS", { rid: 1 })], "invalid"],
    ["not MessagePack", [CLIENT, Buffer.from("GET"), Buffer.from([0xc1])], "invalid"],
    ["three frames", [CLIENT, Buffer.from("GET"), encode({ rid: 1, key: "k", hops: 0 }), Buffer.alloc(0)], "invalid"],
    ["one frame", [CLIENT, Buffer.from("GET")], "invalid"],
  ])("%s -> %s", (_what, frames, kind) => {
    expect(fromMailbox(frames as Buffer[]).kind).toBe(kind);
  });

  it("decodes the fields", () => {
    const m = fromMailbox([PEER, ...encodeRequest({ op: "XFER", rid: 9, items: [item] })]);
    expect(m).toMatchObject({ kind: "request", peer: ID, request: { op: "XFER", rid: 9, items: [item] } });
  });
});

describe("the DEALERs' decoder (REPLY)", () => {
  it.each([
    [
      "ok with a value",
      encodeReply({ rid: 1, status: "ok", node: ID, value: Buffer.from("v"), version: 3, writer: ID, deleted: false }),
      "reply",
    ],
    ["owners", encodeReply({ rid: 1, status: "ok", node: ID, owners: [ID, ID, ID] }), "reply"],
    ["an error", encodeReply({ rid: 1, status: "error", node: ID, reason: "hop limit 4 reached" }), "reply"],
    ["a bad status", f("REPLY", { rid: 1, status: "maybe", node: ID }), "invalid"],
    ["too many owners", f("REPLY", { rid: 1, status: "ok", node: ID, owners: Array(8).fill(ID) }), "invalid"],
    ["not REPLY", f("GET", { rid: 1, status: "ok", node: ID }), "invalid"],
    ["a bad node", f("REPLY", { rid: 1, status: "ok", node: "n" }), "invalid"],
  ])("%s -> %s", (_what, frames, kind) => {
    expect(fromMailboxReply(frames).kind).toBe(kind);
  });
});

it("a copy supersedes another by version, then by writer", () => {
  const a = { value: undefined, version: 5, writer: "a".repeat(32), deleted: false };
  expect(newer(a, undefined)).toBe(true);
  expect(newer({ ...a, version: 6 }, a)).toBe(true);
  expect(newer(a, { ...a, version: 6 })).toBe(false);
  expect(newer({ ...a, writer: "b".repeat(32) }, a)).toBe(true);
  expect(newer(a, a)).toBe(false);
});
