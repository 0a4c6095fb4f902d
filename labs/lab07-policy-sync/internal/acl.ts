/**
 * The access-control list a firewall node enforces: the replicated rules, in order, first match wins.
 *
 * A rule is one line of six words (the value of a key such as "/acl/edge/0100"):
 *
 *   <allow|deny> <tcp|udp|icmp|any> <src> <sport> <dst> <dport>
 *
 * src and dst: "any", an IPv4 address or a CIDR block (10.0.0.0/8); ports: "any", N or N-M (0..65535;
 * ignored for icmp). Rules are ordered by the number their key ends with (the priority), then by
 * key; a flow no rule matches is denied.
 */
import { createHash } from "node:crypto";

export type Proto = "tcp" | "udp" | "icmp";
export type Action = "allow" | "deny";

export interface Flow {
  proto: Proto;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

interface Net {
  base: number;
  mask: number;
}
interface Ports {
  from: number;
  to: number;
}

export interface Rule {
  key: string;
  priority: number;
  action: Action;
  proto: Proto | "any";
  src: Net;
  sport: Ports;
  dst: Net;
  dport: Ports;
  text: string;
}

export type RuleParse = { ok: true; rule: Rule } | { ok: false; reason: string };

const ANY_NET: Net = { base: 0, mask: 0 };
const ANY_PORTS: Ports = { from: 0, to: 65535 };

/** An IPv4 address as an unsigned 32-bit number, or undefined. */
export function ipv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith("0"))) return undefined;
    const octet = Number(p);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

function net(text: string): Net | undefined {
  if (text === "any") return ANY_NET;
  const [addr, bitsText, extra] = text.split("/");
  if (extra !== undefined || addr === undefined) return undefined;
  const base = ipv4(addr);
  const bits = bitsText === undefined ? 32 : /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : Number.NaN;
  if (base === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  // >>> 0 keeps the mask unsigned; a /0 mask is 0 (a shift by 32 would be a no-op in JavaScript).
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, mask };
}

function ports(text: string): Ports | undefined {
  if (text === "any") return ANY_PORTS;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return from <= to && to <= 65535 ? { from, to } : undefined;
}

/** The priority a key gives its rule: the number its last segment is, or the largest when it is none. */
export function priorityOf(key: string): number {
  const last = key.slice(key.lastIndexOf("/") + 1);
  return /^\d{1,9}$/.test(last) ? Number(last) : 1e9;
}

export function parseRule(key: string, text: string): RuleParse {
  const words = text.trim().split(/\s+/);
  if (words.length !== 6) return { ok: false, reason: `${words.length} words, not 6 (action proto src sport dst dport)` };
  const [action, proto, srcText, sportText, dstText, dportText] = words as [string, string, string, string, string, string];
  if (action !== "allow" && action !== "deny") return { ok: false, reason: `action "${action}" is not allow or deny` };
  if (proto !== "tcp" && proto !== "udp" && proto !== "icmp" && proto !== "any")
    return { ok: false, reason: `proto "${proto}" is not tcp, udp, icmp or any` };
  const src = net(srcText);
  const dst = net(dstText);
  if (!src || !dst) return { ok: false, reason: `"${src ? dstText : srcText}" is not any, an IPv4 address or a CIDR block` };
  const sport = ports(sportText);
  const dport = ports(dportText);
  if (!sport || !dport) return { ok: false, reason: `"${sport ? dportText : sportText}" is not any, a port or a port range` };
  return { ok: true, rule: { key, priority: priorityOf(key), action, proto, src, sport, dst, dport, text: words.join(" ") } };
}

const inNet = (addr: number, n: Net) => (addr & n.mask) >>> 0 === n.base;
const inPorts = (port: number, p: Ports) => port >= p.from && port <= p.to;

export function matches(rule: Rule, flow: Flow, src: number, dst: number): boolean {
  if (rule.proto !== "any" && rule.proto !== flow.proto) return false;
  if (!inNet(src, rule.src) || !inNet(dst, rule.dst)) return false;
  if (flow.proto === "icmp") return true;
  return inPorts(flow.sport, rule.sport) && inPorts(flow.dport, rule.dport);
}

export interface Verdict {
  allowed: boolean;
  /** The rule that matched; undefined: none did, and the default denied. */
  rule?: Rule;
}

/**
 * The rules a node holds: set and delete by key as updates arrive; the ordered list is rebuilt
 * lazily, on the first check after a change. Values that do not parse are kept aside (counted and
 * shown), never enforced.
 */
export class Acl {
  private readonly rules = new Map<string, Rule>();
  private readonly invalid = new Map<string, string>();
  private ordered: Rule[] | undefined = [];

  get size(): number {
    return this.rules.size;
  }

  get invalidCount(): number {
    return this.invalid.size;
  }

  invalidKeys(): [string, string][] {
    return [...this.invalid];
  }

  /** Sets or deletes (empty value) one key; false when the value is not a rule. */
  apply(key: string, value: Buffer | string): boolean {
    const text = typeof value === "string" ? value : value.toString("utf8");
    this.ordered = undefined;
    this.rules.delete(key);
    this.invalid.delete(key);
    if (text.length === 0) return true;
    const parsed = parseRule(key, text);
    if (parsed.ok) this.rules.set(key, parsed.rule);
    else this.invalid.set(key, parsed.reason);
    return parsed.ok;
  }

  clear(): void {
    this.rules.clear();
    this.invalid.clear();
    this.ordered = [];
  }

  list(): Rule[] {
    this.ordered ??= [...this.rules.values()].sort((a, b) => a.priority - b.priority || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return this.ordered;
  }

  check(flow: Flow): Verdict {
    const src = ipv4(flow.src);
    const dst = ipv4(flow.dst);
    if (src === undefined || dst === undefined) return { allowed: false };
    for (const rule of this.list()) if (matches(rule, flow, src, dst)) return { allowed: rule.action === "allow", rule };
    return { allowed: false };
  }
}

/** "tcp 10.0.0.5:40000 10.1.0.9:443" (or "icmp 10.0.0.5 10.1.0.9"), as a user types a flow. */
export function parseFlow(text: string): Flow | undefined {
  const [proto, from, to, extra] = text.trim().split(/\s+/);
  if (extra !== undefined || (proto !== "tcp" && proto !== "udp" && proto !== "icmp") || !from || !to) return undefined;
  const endpoint = (t: string): [string, number] | undefined => {
    const [addr, portText, more] = t.split(":");
    const port = portText === undefined ? 0 : /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    return more === undefined && addr !== undefined && ipv4(addr) !== undefined && port >= 0 && port <= 65535 ? [addr, port] : undefined;
  };
  const s = endpoint(from);
  const d = endpoint(to);
  return s && d ? { proto, src: s[0], sport: s[1], dst: d[0], dport: d[1] } : undefined;
}

export function formatFlow(f: Flow): string {
  return f.proto === "icmp" ? `icmp ${f.src} ${f.dst}` : `${f.proto} ${f.src}:${f.sport} ${f.dst}:${f.dport}`;
}

/** The digest of a key-value map: SHA-256 over the entries in key order; equal maps, equal digests. */
export function mapDigest(entries: Iterable<[string, Buffer]>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = createHash("sha256");
  for (const [key, value] of sorted) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(Buffer.byteLength(key), 0);
    head.writeUInt32BE(value.length, 4);
    hash.update(head).update(key).update(value);
  }
  return hash.digest("hex");
}
