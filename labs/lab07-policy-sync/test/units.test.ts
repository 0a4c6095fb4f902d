// Units: kvmsg frames and bounds, the CHP decoders, the ACL (table-driven), the pending list, the digest.
import { encode, tryParseConfig } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { Acl, formatFlow, mapDigest, parseFlow, parseRule, priorityOf } from "../internal/acl.ts";
import { chpServer } from "../internal/clone-client.ts";
import { adminOptions, checkAdmin, checkMaster, checkNode, LAB, masterOptions, nodeOptions } from "../internal/config.ts";
import { decodeKvMsg, EMPTY, encodeKvMsg, kv, MAX_KEY_BYTES, MAX_VALUE_BYTES, newUuid, parseProps, seqFrame } from "../internal/kvmsg.ts";
import { PendingList } from "../internal/pending.ts";
import {
  checkSubtree,
  decodeAnswer,
  encodeAnswer,
  fromPublisher,
  fromQuerier,
  fromSnapshotClient,
  fromSnapshotServer,
  fromUpdater,
  hugz,
  kthxbai,
} from "../internal/protocol.ts";

const b = (s: string) => Buffer.from(s);

describe("kvmsg: five frames", () => {
  it("round-trips key, 8-byte big-endian sequence, uuid, properties and body", () => {
    const uuid = newUuid();
    const m = kv("/acl/edge/0100", "allow tcp any any any 443", { ttl: "30" }, uuid, 2n ** 40n + 7n);
    const frames = encodeKvMsg(m);
    expect(frames).toHaveLength(5);
    expect(frames[1]).toEqual(Buffer.from([0, 0, 1, 0, 0, 0, 0, 7]));
    expect(frames[2]).toHaveLength(16);
    expect(frames[3]?.toString()).toBe("ttl=30\n");
    const back = decodeKvMsg(frames);
    expect(back.ok && back.value).toMatchObject({ key: m.key, seq: m.seq, uuid, body: m.body });
    expect(back.ok && back.value.props.get("ttl")).toBe("30");
  });

  it("takes the largest sequence there is (2^64 - 1) as a BigInt", () => {
    const r = decodeKvMsg([b("k"), Buffer.alloc(8, 0xff), EMPTY, EMPTY, b("v")]);
    expect(r.ok && r.value.seq).toBe(2n ** 64n - 1n);
  });

  it.each([
    ["four frames", [b("k"), seqFrame(1n), EMPTY, EMPTY]],
    ["an empty key", [EMPTY, seqFrame(1n), EMPTY, EMPTY, b("v")]],
    ["a key over 255 bytes", [Buffer.alloc(MAX_KEY_BYTES + 1, 0x61), seqFrame(1n), EMPTY, EMPTY, b("v")]],
    ["a key that is not UTF-8", [Buffer.from([0xff, 0xfe]), seqFrame(1n), EMPTY, EMPTY, b("v")]],
    ["a key with a newline", [b("a\nb"), seqFrame(1n), EMPTY, EMPTY, b("v")]],
    ["a 4-byte sequence", [b("k"), Buffer.alloc(4), EMPTY, EMPTY, b("v")]],
    ["a 15-byte uuid", [b("k"), seqFrame(1n), Buffer.alloc(15), EMPTY, b("v")]],
    ["a value over the bound", [b("k"), seqFrame(1n), EMPTY, EMPTY, Buffer.alloc(MAX_VALUE_BYTES + 1)]],
    ["properties that are not name=value", [b("k"), seqFrame(1n), EMPTY, b("ttl\n"), b("v")]],
  ])("refuses %s", (_what, frames) => {
    expect(decodeKvMsg(frames as Buffer[]).ok).toBe(false);
  });

  it("properties: several, a last one without newline, a __proto__ name kept as a name; bounded", () => {
    const p = parseProps(b("ttl=5\n__proto__=x\nowner=ops"));
    expect(p.ok && [...p.value]).toEqual([
      ["ttl", "5"],
      ["__proto__", "x"],
      ["owner", "ops"],
    ]);
    expect(parseProps(b("a=1\n".repeat(17))).ok).toBe(false);
    expect(parseProps(Buffer.alloc(2000, 0x61)).ok).toBe(false);
    expect(parseProps(b("=1\n")).ok).toBe(false);
  });
});

describe("CHP commands, one decoder per socket", () => {
  it("ICANHAZ? with a subtree, as the snapshot ROUTER sees it", () => {
    expect(fromSnapshotClient([b("id"), b("ICANHAZ?"), b("/acl/edge/")])).toEqual({
      kind: "icanhaz",
      client: b("id"),
      subtree: "/acl/edge/",
    });
    expect(fromSnapshotClient([b("id"), b("ICANHAZ?"), EMPTY])).toMatchObject({ kind: "icanhaz", subtree: "" });
    expect(fromSnapshotClient([b("id"), b("ICANHAZ?")]).kind).toBe("invalid");
    expect(fromSnapshotClient([b("id"), b("GIMME"), EMPTY]).kind).toBe("invalid");
    expect(fromSnapshotClient([b("id"), b("ICANHAZ?"), b("acl")]).kind).toBe("invalid");
  });

  it.each([
    ["", true],
    ["/acl/", true],
    ["/acl/edge/", true],
    ["/acl", false],
    ["acl/", false],
    ["//", false],
    ["/a\nb/", false],
  ])("subtree %j valid: %s", (subtree, valid) => {
    expect(checkSubtree(b(subtree)).ok).toBe(valid);
  });

  it("KTHXBAI as SPEC writes it (subtree in frame 4) and as REF does (empty); KVSYNC entries", () => {
    expect(fromSnapshotServer(kthxbai(42n, "/acl/edge/"))).toEqual({ kind: "kthxbai", seq: 42n, subtree: "/acl/edge/" });
    expect(fromSnapshotServer([b("KTHXBAI"), seqFrame(7n), EMPTY, EMPTY, EMPTY])).toMatchObject({ kind: "kthxbai", seq: 7n });
    expect(fromSnapshotServer(encodeKvMsg(kv("/k", "v", { ttl: "3" })))).toMatchObject({ kind: "kvsync", ttlS: 3 });
    expect(fromSnapshotServer([b("KTHXBAI"), Buffer.alloc(3), EMPTY, EMPTY, EMPTY]).kind).toBe("invalid");
  });

  it("HUGZ is [HUGZ, 00000000, '', '', '']; a KVPUB with a bad ttl is refused", () => {
    const h = hugz();
    expect(h.map((f) => f.toString("hex"))).toEqual([b("HUGZ").toString("hex"), "0000000000000000", "", "", ""]);
    expect(fromPublisher(h)).toEqual({ kind: "hugz", seq: 0n });
    expect(fromPublisher(encodeKvMsg(kv("/k", "v", { ttl: "soon" }))).kind).toBe("invalid");
    expect(fromPublisher(encodeKvMsg(kv("/k", "v", { ttl: "99999999" }))).kind).toBe("invalid");
  });

  it("KVSET: reserved keys refused (a HUGZ... key would reach every HUGZ subscriber)", () => {
    expect(fromUpdater(encodeKvMsg(kv("/acl/x", "v", { ttl: "10" })))).toMatchObject({ kind: "kvset", ttlS: 10 });
    for (const key of ["HUGZ", "HUGZ/x", "KTHXBAI", "ICANHAZ?"]) expect(fromUpdater(encodeKvMsg(kv(key, "v"))).kind).toBe("invalid");
  });

  it("the query socket: check and status in, answers out; anything else refused", () => {
    const q = (m: unknown) => fromQuerier([encode(m)]);
    expect(q({ v: 1, op: "check", proto: "tcp", src: "10.0.0.1", sport: 1, dst: "10.1.0.1", dport: 443 }).kind).toBe("check");
    expect(q({ v: 1, op: "status" }).kind).toBe("status");
    expect(q({ v: 2, op: "status" }).kind).toBe("invalid");
    expect(q({ v: 1, op: "check", proto: "tcp", src: "10.0.0.256", sport: 1, dst: "10.1.0.1", dport: 443 }).kind).toBe("invalid");
    expect(q({ v: 1, op: "check", proto: "sctp", src: "10.0.0.1", sport: 1, dst: "10.1.0.1", dport: 443 }).kind).toBe("invalid");
    expect(q({ v: 1, op: "check", proto: "tcp", src: "10.0.0.1", sport: 70000, dst: "10.1.0.1", dport: 443 }).kind).toBe("invalid");
    expect(fromQuerier([b("x"), b("y")]).kind).toBe("invalid");
    const answer = decodeAnswer(encodeAnswer({ ok: true, decision: { allowed: true, rule: "/acl/edge/0100", seq: 3 } }));
    expect(answer).toEqual({ ok: true, value: { ok: true, decision: { allowed: true, rule: "/acl/edge/0100", seq: 3 } } });
  });

  it("a CHP server's ports: P, P+1, P+2", () => {
    expect(chpServer("tcp://127.0.0.1:5070")).toEqual({
      snapshot: "tcp://127.0.0.1:5070",
      publisher: "tcp://127.0.0.1:5071",
      collector: "tcp://127.0.0.1:5072",
    });
    expect(() => chpServer("ipc:///tmp/x")).toThrow(/tcp:\/\/host:port/);
    expect(() => chpServer("tcp://127.0.0.1:65534")).toThrow();
  });
});

describe("the ACL: ordered rules, CIDR and port ranges, first match wins, default deny", () => {
  const acl = new Acl();
  acl.apply("/acl/edge/0100", "allow tcp any any 10.1.0.0/16 443");
  acl.apply("/acl/edge/0150", "deny tcp 203.0.113.0/24 any 10.1.0.0/16 any");
  acl.apply("/acl/edge/0050", "allow udp 10.0.0.0/8 1024-65535 10.1.0.53 53");
  acl.apply("/acl/edge/0300", "allow icmp 10.0.0.0/8 any 10.1.0.0/24 any");
  acl.apply("/acl/edge/0400", "allow tcp 192.168.7.7 any 0.0.0.0/0 8000-8080");
  acl.apply("/acl/edge/0900", "deny any any any any any");

  it.each([
    ["tcp 1.2.3.4:5000 10.1.2.3:443", true, "/acl/edge/0100"],
    // 0100 comes before 0150: first match wins, so the blocked network still reaches 443.
    ["tcp 203.0.113.9:5000 10.1.2.3:443", true, "/acl/edge/0100"],
    ["tcp 203.0.113.9:5000 10.1.2.3:22", false, "/acl/edge/0150"],
    ["tcp 203.0.114.9:5000 10.1.2.3:22", false, "/acl/edge/0900"],
    ["udp 10.9.9.9:2000 10.1.0.53:53", true, "/acl/edge/0050"],
    ["udp 10.9.9.9:53 10.1.0.53:53", false, "/acl/edge/0900"],
    ["udp 11.0.0.1:2000 10.1.0.53:53", false, "/acl/edge/0900"],
    ["icmp 10.2.0.1 10.1.0.200", true, "/acl/edge/0300"],
    ["icmp 10.2.0.1 10.1.1.200", false, "/acl/edge/0900"],
    ["tcp 192.168.7.7:1 8.8.8.8:8080", true, "/acl/edge/0400"],
    ["tcp 192.168.7.7:1 8.8.8.8:8081", false, "/acl/edge/0900"],
    ["tcp 192.168.7.8:1 8.8.8.8:8000", false, "/acl/edge/0900"],
  ])("%s → allowed %s by %s", (flow, allowed, rule) => {
    const v = acl.check(parseFlow(flow) as NonNullable<ReturnType<typeof parseFlow>>);
    expect([v.allowed, v.rule?.key]).toEqual([allowed, rule]);
  });

  it("no rule matching: denied; a delete (empty value) removes a rule; a value that is no rule is kept aside", () => {
    const a = new Acl();
    expect(a.check({ proto: "tcp", src: "1.1.1.1", sport: 1, dst: "2.2.2.2", dport: 2 })).toEqual({ allowed: false });
    a.apply("/z/1", "allow any any any any any");
    expect(a.check({ proto: "udp", src: "1.1.1.1", sport: 1, dst: "2.2.2.2", dport: 2 }).allowed).toBe(true);
    a.apply("/z/1", "");
    expect(a.size).toBe(0);
    expect(a.apply("/z/2", "permit everything")).toBe(false);
    expect([a.size, a.invalidCount]).toEqual([0, 1]);
  });

  it.each([
    ["allow tcp any any any", /not 6/],
    ["maybe tcp any any any any", /action/],
    ["allow sctp any any any any", /proto/],
    ["allow tcp 10.0.0.0/33 any any any", /CIDR/],
    ["allow tcp 10.0.0.256 any any any", /CIDR/],
    ["allow tcp any 80-70 any any", /port/],
    ["allow tcp any any any 65536", /port/],
  ])("rule %j refused (%s)", (text, reason) => {
    const r = parseRule("/k/1", text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it("a CIDR's host bits are ignored; /0 is every address; the priority comes from the key", () => {
    const r = parseRule("/acl/edge/0042", "allow tcp 10.1.2.3/8 any 0.0.0.0/0 any");
    expect(r.ok && r.rule.src).toEqual({ base: 10 * 2 ** 24, mask: 0xff000000 });
    expect(r.ok && r.rule.priority).toBe(42);
    expect(priorityOf("/acl/edge/web")).toBe(1e9);
  });

  it("flows as a user types them", () => {
    expect(parseFlow("tcp 10.0.0.5:40000 10.1.0.9:443")).toEqual({
      proto: "tcp",
      src: "10.0.0.5",
      sport: 40000,
      dst: "10.1.0.9",
      dport: 443,
    });
    expect(formatFlow(parseFlow("icmp 10.0.0.5 10.1.0.9") as NonNullable<ReturnType<typeof parseFlow>>)).toBe("icmp 10.0.0.5 10.1.0.9");
    for (const bad of ["tcp 10.0.0.5:1", "gre 1.1.1.1 2.2.2.2", "tcp 1.1.1.1:99999 2.2.2.2:1", "tcp a:1 2.2.2.2:1"])
      expect(parseFlow(bad)).toBeUndefined();
  });
});

describe("the pending list (model 6), de-duplicated by uuid", () => {
  const msg = (uuid: Buffer, key = "/k") => kv(key, "v", {}, uuid);

  it("a client update then the active's copy: held, then cleared; nothing to publish at take-over", () => {
    const p = new PendingList();
    const u = newUuid();
    expect(p.fromClient(msg(u), 0)).toBe("held");
    expect(p.fromPeer(u, 1)).toBe("cleared");
    expect(p.flush()).toEqual([]);
  });

  it("the active's copy first: noted, and the client's copy is dropped when it comes", () => {
    const p = new PendingList();
    const u = newUuid();
    expect(p.fromPeer(u, 0)).toBe("noted");
    expect(p.fromClient(msg(u), 1)).toBe("duplicate");
    expect([p.size, p.seenSize]).toEqual([0, 0]);
    expect(p.flush()).toEqual([]);
  });

  it("the same client update twice is held once; take-over publishes held updates oldest first", () => {
    const p = new PendingList();
    const [u1, u2] = [newUuid(), newUuid()];
    p.fromClient(msg(u1, "/a"), 0);
    p.fromClient(msg(u2, "/b"), 1);
    p.fromClient(msg(u1, "/a"), 2);
    expect(p.flush().map((m) => m.key)).toEqual(["/b", "/a"]);
  });

  it("a snapshot from the active drops what was held before it was asked for (it is in the snapshot, or comes later)", () => {
    const p = new PendingList();
    p.fromClient(msg(newUuid(), "/old"), 10);
    p.fromClient(msg(EMPTY, "/anonymous"), 11);
    p.fromClient(msg(newUuid(), "/new"), 30);
    expect(p.dropBefore(20)).toBe(2);
    expect(p.flush().map((m) => m.key)).toEqual(["/new"]);
  });

  it("bounded: past the bound the oldest goes; entries the live peer never published age out", () => {
    const p = new PendingList(3);
    for (let i = 0; i < 5; i++) p.fromClient(msg(newUuid(), `/k${i}`), i);
    expect(p.size).toBe(3);
    expect(p.dropped).toBe(2);
    expect(p.expire(100, 20, 30)).toBe(0);
    expect(p.expire(100, 100, 30)).toBe(3);
    expect(p.size).toBe(0);
  });
});

describe("the map digest", () => {
  it("depends on the entries, not their order; a value change changes it", () => {
    const a = mapDigest([
      ["/b", b("2")],
      ["/a", b("1")],
    ]);
    expect(a).toBe(
      mapDigest([
        ["/a", b("1")],
        ["/b", b("2")],
      ]),
    );
    expect(a).not.toBe(
      mapDigest([
        ["/a", b("1")],
        ["/b", b("3")],
      ]),
    );
    // Length-prefixed: "ab"+"c" and "a"+"bc" differ.
    expect(mapDigest([["ab", b("c")]])).not.toBe(mapDigest([["a", b("bc")]]));
  });
});

describe("flags: a bad one is a ConfigError naming it (the processes print it as one line, exit 2)", () => {
  const specs = {
    "policy-master": { options: masterOptions, check: checkMaster },
    "firewall-node": { options: nodeOptions, check: checkNode },
    "policy-admin": { options: adminOptions, check: checkAdmin },
  } as const;
  const parse = (role: keyof typeof specs, argv: string[], env: NodeJS.ProcessEnv = {}) =>
    tryParseConfig({ lab: LAB, role, describe: role, ...specs[role] } as unknown as Parameters<typeof tryParseConfig>[0], argv, env);

  it.each([
    ["policy-master", ["--role", "tertiary"], /role/],
    ["policy-master", ["--endpoint", "ipc:///tmp/x"], /^--endpoint: ipc:\/\/\/tmp\/x is not tcp:\/\/host:port/],
    ["policy-master", ["--peer", "tcp://127.0.0.1:65535"], /^--peer: /],
    ["policy-master", ["--heartbeat", "5"], /^--heartbeat \(or LAB07_HEARTBEAT\) must be at least 10/],
    ["firewall-node", ["--subtree", "/acl"], /^--subtree "\/acl" is not/],
    ["firewall-node", ["--name", "a b"], /^--name "a b" may hold only/],
    ["firewall-node", ["--servers", "a,b,c"], /^--servers: give one or two servers/],
    ["policy-admin", [], /^what\? give --set/],
    ["policy-admin", ["--set", "no-equals"], /is not KEY=RULE/],
    ["policy-admin", ["--delete", "HUGZ"], /^"HUGZ" is not a key/],
    ["policy-admin", ["--check", "tcp 1.2.3.4:1 5.6.7.8:2"], /^--check and --status need --nodes/],
    [
      "policy-admin",
      ["--check", "tcp 1.2.3.4 5.6.7.8:2:3", "--nodes", "tcp://127.0.0.1:5078"],
      /^--check "tcp 1.2.3.4 5.6.7.8:2:3" is not/,
    ],
    ["policy-admin", ["--set", "/k/1=allow any any any any any", "--ttl", "-1"], /^--ttl \(or LAB07_TTL\) must be at least 0/],
  ] as const)("%s %j", (role, argv, reason) => {
    expect(() => parse(role, [...argv])).toThrow(reason);
  });

  it("the environment: LAB07_SERVER_TTL sets --server-ttl; an unknown LAB07_ variable is refused", () => {
    expect(parse("firewall-node", [], { LAB07_SERVER_TTL: "1500" }).serverTtl).toBe(1500);
    expect(() => parse("firewall-node", [], { LAB07_SERVER_TTL_MS: "1" })).toThrow(/LAB07_SERVER_TTL_MS is not a setting/);
  });
});
