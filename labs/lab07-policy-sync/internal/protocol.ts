/**
 * Lab 07 wire protocol: RFC 12/CHP (the Clustered Hashmap Protocol, the Guide's Clone model 6),
 * frames exactly as the RFC writes them; plus the firewall node's query socket (MessagePack).
 *
 * A server opens three ports: SNAPSHOT (ROUTER) at P, PUBLISHER (PUB) at P+1, COLLECTOR (SUB) at P+2.
 *   ICANHAZ   client DEALER → server ROUTER   ["ICANHAZ?", subtree]
 *   KVSYNC    server ROUTER → client DEALER   [key, seq, uuid, properties, value]   (0..n of them)
 *   KTHXBAI   server ROUTER → client DEALER   ["KTHXBAI", seq, "", "", subtree]
 *   KVPUB     server PUB → client SUB         [key, seq, uuid, properties, value]   (seq strictly increasing)
 *   HUGZ      server PUB → client SUB         ["HUGZ", 00000000, "", "", ""]
 *   KVSET     client PUB → server SUB         [key, seq (ignored), uuid, properties, value]
 * An empty value deletes the key; the property "ttl=N" makes the server delete it N seconds later,
 * published as a KVPUB with an empty value and a new sequence number.
 *
 * One decoder per socket, each returning a tagged union the socket's loop switches on.
 */
import { type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";
import type { Flow } from "./acl.ts";
import { decodeKvMsg, EMPTY, hasControl, type KvMsg, MAX_KEY_BYTES, seqFrame, ZERO_SEQ } from "./kvmsg.ts";

export const ICANHAZ = "ICANHAZ?";
export const KTHXBAI = "KTHXBAI";
export const HUGZ = "HUGZ";
export const ICANHAZ_FRAME = Buffer.from(ICANHAZ);
export const KTHXBAI_FRAME = Buffer.from(KTHXBAI);
export const HUGZ_FRAME = Buffer.from(HUGZ);

/** The longest a ttl may be, in seconds (30 days). */
export const MAX_TTL_S = 30 * 24 * 3600;
/** A subtree: empty (everything) or "/" then one or more segments, each ending in "/" (CHP). */
const SUBTREE = /^(\/[^/]+)+\/$/;
/** The snapshot and update sockets take kvmsgs (the value is the largest frame); the query socket much less. */
export const MAX_QUERY_BYTES = 4096;

export function checkSubtree(frame: Buffer): Checked<string> {
  if (frame.length === 0) return ok("");
  if (frame.length > MAX_KEY_BYTES) return refuse(`subtree over ${MAX_KEY_BYTES} bytes`);
  const text = frame.toString("utf8");
  if (!Buffer.from(text).equals(frame) || !SUBTREE.test(text) || hasControl(text)) return refuse('subtree is not "" or "/seg/.../"');
  return ok(text);
}

/** Keys the commands use as their first frame cannot be keys of the map (a "HUGZ..." key would reach every HUGZ subscriber). */
export function reservedKey(key: string): boolean {
  return key.startsWith(HUGZ) || key === KTHXBAI || key === ICANHAZ;
}

/** The ttl property: absent or 0 is none; otherwise whole seconds up to MAX_TTL_S. */
export function ttlOf(m: KvMsg): Checked<number> {
  const text = m.props.get("ttl");
  if (text === undefined) return ok(0);
  if (!/^\d{1,8}$/.test(text)) return refuse(`ttl "${text.slice(0, 20)}" is not whole seconds`);
  const ttl = Number(text);
  return ttl <= MAX_TTL_S ? ok(ttl) : refuse(`ttl over ${MAX_TTL_S} s`);
}

// ---- the server's SNAPSHOT ROUTER ----

export type FromSnapshotClient =
  | { kind: "icanhaz"; client: Buffer; subtree: string }
  | { kind: "invalid"; client: Buffer | undefined; reason: string };

export function fromSnapshotClient(frames: readonly Buffer[]): FromSnapshotClient {
  const client = frames[0];
  if (frames.length !== 3 || !client?.length)
    return { kind: "invalid", client, reason: `${frames.length - 1} frames, not ICANHAZ? and a subtree` };
  if (!frames[1]?.equals(ICANHAZ_FRAME)) return { kind: "invalid", client, reason: "not ICANHAZ?" };
  const subtree = checkSubtree(frames[2] as Buffer);
  return subtree.ok ? { kind: "icanhaz", client, subtree: subtree.value } : { kind: "invalid", client, reason: subtree.reason };
}

export function icanhaz(subtree: string): Buffer[] {
  return [ICANHAZ_FRAME, Buffer.from(subtree)];
}

export function kthxbai(seq: bigint, subtree: string): Buffer[] {
  return [KTHXBAI_FRAME, seqFrame(seq), EMPTY, EMPTY, Buffer.from(subtree)];
}

export function hugz(): Buffer[] {
  return [HUGZ_FRAME, ZERO_SEQ, EMPTY, EMPTY, EMPTY];
}

// ---- the server's COLLECTOR SUB ----

export type FromUpdater = { kind: "kvset"; msg: KvMsg; ttlS: number } | { kind: "invalid"; reason: string };

export function fromUpdater(frames: readonly Buffer[]): FromUpdater {
  const m = decodeKvMsg(frames);
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  if (reservedKey(m.value.key)) return { kind: "invalid", reason: `reserved key ${m.value.key.slice(0, 20)}` };
  const ttl = ttlOf(m.value);
  return ttl.ok ? { kind: "kvset", msg: m.value, ttlS: ttl.value } : { kind: "invalid", reason: ttl.reason };
}

// ---- the client's SNAPSHOT DEALER ----

export type FromSnapshotServer =
  | { kind: "kvsync"; msg: KvMsg; ttlS: number }
  | { kind: "kthxbai"; seq: bigint; subtree: string }
  | { kind: "invalid"; reason: string };

export function fromSnapshotServer(frames: readonly Buffer[]): FromSnapshotServer {
  if (frames.length === 5 && frames[0]?.equals(KTHXBAI_FRAME)) {
    if (frames[1]?.length !== 8) return { kind: "invalid", reason: "KTHXBAI sequence is not 8 bytes" };
    const subtree = checkSubtree(frames[4] as Buffer);
    // SPEC puts the subtree in frame 4; REF leaves it empty. Both are accepted.
    if (!subtree.ok) return { kind: "invalid", reason: `KTHXBAI ${subtree.reason}` };
    return { kind: "kthxbai", seq: (frames[1] as Buffer).readBigUInt64BE(), subtree: subtree.value };
  }
  const m = decodeKvMsg(frames);
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  if (reservedKey(m.value.key)) return { kind: "invalid", reason: "reserved key in a snapshot" };
  // SPEC: KVSYNC's uuid and properties are empty; REF (and this server) send the properties, ttl included.
  const ttl = ttlOf(m.value);
  return ttl.ok ? { kind: "kvsync", msg: m.value, ttlS: ttl.value } : { kind: "invalid", reason: ttl.reason };
}

// ---- the client's SUBSCRIBER ----

export type FromPublisher =
  | { kind: "kvpub"; msg: KvMsg; ttlS: number }
  | { kind: "hugz"; seq: bigint }
  | { kind: "invalid"; reason: string };

export function fromPublisher(frames: readonly Buffer[]): FromPublisher {
  if (frames.length === 5 && frames[0]?.equals(HUGZ_FRAME)) {
    if (frames[1]?.length !== 8) return { kind: "invalid", reason: "HUGZ sequence is not 8 bytes" };
    return { kind: "hugz", seq: (frames[1] as Buffer).readBigUInt64BE() };
  }
  const m = decodeKvMsg(frames);
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  if (reservedKey(m.value.key)) return { kind: "invalid", reason: "reserved key in an update" };
  const ttl = ttlOf(m.value);
  return ttl.ok ? { kind: "kvpub", msg: m.value, ttlS: ttl.value } : { kind: "invalid", reason: ttl.reason };
}

export function inSubtree(key: string, subtree: string): boolean {
  return key.startsWith(subtree);
}

// ---- the firewall node's QUERY REP (MessagePack maps) ----

export const QUERY_VERSION = 1;
const PROTOS = ["tcp", "udp", "icmp"] as const;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export type Query = { kind: "check"; flow: Flow } | { kind: "status" } | { kind: "invalid"; reason: string };

export function isIpv4(text: unknown): text is string {
  if (typeof text !== "string") return false;
  const m = IPV4.exec(text);
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && (o === "0" || !o.startsWith("0")));
}

/** What the firewall node's REP takes: {v: 1, op: "check", proto, src, sport, dst, dport} or {v: 1, op: "status"}. */
export function fromQuerier(frames: readonly Buffer[]): Query {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, not 1` };
  const decoded = decodeMap(frames[0], "query");
  if (!decoded.ok) return { kind: "invalid", reason: decoded.reason };
  const q = decoded.value;
  if (!isInt(q.v, QUERY_VERSION, QUERY_VERSION)) return { kind: "invalid", reason: "unsupported version" };
  if (q.op === "status") return { kind: "status" };
  if (q.op !== "check") return { kind: "invalid", reason: "op is not check or status" };
  if (!PROTOS.includes(q.proto as (typeof PROTOS)[number])) return { kind: "invalid", reason: "proto is not tcp, udp or icmp" };
  if (!isIpv4(q.src) || !isIpv4(q.dst)) return { kind: "invalid", reason: "src or dst is not an IPv4 address" };
  if (!isInt(q.sport, 0, 65535) || !isInt(q.dport, 0, 65535)) return { kind: "invalid", reason: "sport or dport is not 0..65535" };
  return { kind: "check", flow: { proto: q.proto as Flow["proto"], src: q.src, sport: q.sport, dst: q.dst, dport: q.dport } };
}

export function encodeQuery(q: { op: "status" } | ({ op: "check" } & Flow)): Buffer {
  return encode({ v: QUERY_VERSION, ...q });
}

export interface Decision {
  allowed: boolean;
  /** The key of the rule that matched; absent when none did (the default: deny). */
  rule?: string;
  /** The node's sequence number when it decided. */
  seq: number;
}

export interface NodeStatus {
  name: string;
  rules: number;
  seq: number;
  digest: string;
  server: string;
  subtree: string;
  synced: boolean;
}

export type Answer = { ok: true; decision: Decision } | { ok: true; status: NodeStatus } | { ok: false; error: string };

export function encodeAnswer(a: Answer): Buffer {
  return encode({ v: QUERY_VERSION, ...a });
}

/** The answer, as the policy-admin (or a test) checks it. */
export function decodeAnswer(frame: Buffer | undefined): Checked<Answer> {
  const decoded = decodeMap(frame, "answer");
  if (!decoded.ok) return decoded;
  const a = decoded.value;
  if (!isInt(a.v, QUERY_VERSION, QUERY_VERSION)) return refuse("unsupported version");
  if (a.ok === false) return isText(a.error, 1024) ? ok({ ok: false, error: a.error }) : refuse("bad error");
  if (a.ok !== true) return refuse("no ok");
  const d = a.decision as Record<string, unknown> | undefined;
  if (d && typeof d === "object") {
    if (typeof d.allowed !== "boolean" || !isInt(d.seq) || (d.rule !== undefined && !isText(d.rule, MAX_KEY_BYTES)))
      return refuse("bad decision");
    return ok({ ok: true, decision: { allowed: d.allowed, seq: d.seq, ...(d.rule !== undefined ? { rule: d.rule as string } : {}) } });
  }
  const s = a.status as Record<string, unknown> | undefined;
  if (s && typeof s === "object") {
    if (
      !isText(s.name, 255) ||
      !isInt(s.rules) ||
      !isInt(s.seq) ||
      !isText(s.digest, 64) ||
      !isText(s.server, 1024) ||
      !isText(s.subtree, MAX_KEY_BYTES)
    )
      return refuse("bad status");
    return ok({
      ok: true,
      status: {
        name: s.name,
        rules: s.rules,
        seq: s.seq,
        digest: s.digest,
        server: s.server,
        subtree: s.subtree,
        synced: s.synced === true,
      },
    });
  }
  return refuse("neither a decision nor a status");
}
