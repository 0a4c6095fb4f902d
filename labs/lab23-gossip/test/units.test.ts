// Units: each socket's decoder, the beacon, the LWW order and map, the Berkeley round, SWIM's
// precedence rules (table-driven), the JSONL store, the admin's command line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { berkeleyRound, estimateOffset } from "../internal/berkeley.ts";
import { requestsOf } from "../internal/gossip-admin.ts";
import { compareEntries, LwwMap, mapDigest } from "../internal/lww-map.ts";
import { type MemberEvent, Membership } from "../internal/membership.ts";
import {
  decodeBeacon,
  type Entry,
  encodeAdmin,
  encodeAdminReply,
  encodeBeacon,
  encodeBus,
  encodeMail,
  fromBus,
  fromMailbox,
  fromNode,
  MAX_KEYS,
  type MailMessage,
  type MemberRecord,
} from "../internal/protocol.ts";
import { readStore, Store } from "../internal/store.ts";

const e = (key: string, clock: number, origin: string, value?: string): Entry =>
  value === undefined ? { key, clock, origin, deleted: true } : { key, value, clock, origin, deleted: false };
const id = Buffer.from("peer");
const member = (over: Partial<MemberRecord> = {}): MemberRecord => ({
  id: "n2",
  inc: 0,
  state: "alive",
  rank: 2,
  pub: "tcp://127.0.0.1:2",
  mailbox: "tcp://127.0.0.1:1",
  ...over,
});

describe("the bus decoder", () => {
  it("takes an update published by its origin and a servers announcement", () => {
    const update = encodeBus({ kind: "update", from: "n1", entry: e("k", 3, "n1", "v") });
    expect(fromBus(update.map((f) => Buffer.from(f)))).toEqual({ kind: "update", from: "n1", entry: e("k", 3, "n1", "v") });
    const servers = encodeBus({ kind: "servers", from: "n1", coordinator: "n1", rank: 1, inc: 0 });
    expect(fromBus(servers.map((f) => Buffer.from(f)))).toMatchObject({ kind: "servers", coordinator: "n1" });
  });

  it.each([
    ["one frame", [Buffer.from("update.")], /frames/],
    ["unknown topic", [Buffer.from("other."), encode({ v: 1 })], /unknown topic/],
    ["not msgpack", [Buffer.from("update."), Buffer.from([0xc1])], /MessagePack/],
    ["version 2", [Buffer.from("update."), encode({ v: 2, from: "n1", entry: {} })], /version/],
    [
      "a relayed update (from is not the origin): would loop",
      [Buffer.from("update."), encode({ v: 1, from: "n2", entry: { key: "k", value: "v", clock: 1, origin: "n1", deleted: false } })],
      /origin/,
    ],
    [
      "clock 0",
      [Buffer.from("update."), encode({ v: 1, from: "n1", entry: { key: "k", value: "v", clock: 0, origin: "n1", deleted: false } })],
      /clock/,
    ],
    [
      "clock 1.5",
      [Buffer.from("update."), encode({ v: 1, from: "n1", entry: { key: "k", value: "v", clock: 1.5, origin: "n1", deleted: false } })],
      /clock/,
    ],
    [
      "value too long",
      [
        Buffer.from("update."),
        encode({ v: 1, from: "n1", entry: { key: "k", value: "x".repeat(1025), clock: 1, origin: "n1", deleted: false } }),
      ],
      /value/,
    ],
    [
      "tombstone with a value",
      [Buffer.from("update."), encode({ v: 1, from: "n1", entry: { key: "k", value: "x", clock: 1, origin: "n1", deleted: true } })],
      /tombstone/,
    ],
    ["bad id", [Buffer.from("update."), encode({ v: 1, from: "a b", entry: {} })], /from/],
  ])("refuses %s", (_what, frames, reason) => {
    const m = fromBus(frames as Buffer[]);
    expect(m.kind).toBe("invalid");
    expect((m as { reason: string }).reason).toMatch(reason);
  });
});

describe("the mailbox decoder", () => {
  const messages: MailMessage[] = [
    { kind: "ping", from: member(), seq: 4, target: "n1", updates: [member({ id: "n3", state: "suspect", inc: 2 })] },
    { kind: "ack", from: member(), seq: 4, target: "n2", updates: [] },
    { kind: "ping-req", from: member(), seq: 5, target: "n3", updates: [] },
    { kind: "join", from: member(), updates: [] },
    { kind: "digest", from: "n2", versions: [["k", 3, "n1"]], reply: true },
    { kind: "delta", from: "n2", entries: [e("k", 3, "n1", "v"), e("gone", 4, "n2")] },
    { kind: "time-request", from: "n1", round: 7 },
    { kind: "time", from: "n2", round: 7, clock: 1_700_000_000_123.5 },
    { kind: "adjust", from: "n1", round: 7, adjustMs: -4999.5 },
  ];
  it.each(messages.map((m) => [m.kind, m] as const))("round-trips %s", (_kind, m) => {
    const frames = [id, ...encodeMail(m).map((f) => Buffer.from(f))];
    expect(fromMailbox(frames)).toEqual({ kind: "peer", message: m });
  });

  it("takes the admin's requests", () => {
    const frames = [id, ...encodeAdmin({ op: "set", key: "k", value: "v" }).map((f) => Buffer.from(f))];
    expect(fromMailbox(frames)).toEqual({ kind: "admin", identity: id, request: { op: "set", key: "k", value: "v" } });
  });

  it.each([
    ["two frames", [id, Buffer.from("PING")], /frames/],
    ["unknown command", [id, Buffer.from("HELLO"), encode({ v: 1 })], /unknown command/],
    ["a long command", [id, Buffer.alloc(100, 65), encode({ v: 1 })], /unknown command/],
    ["ping without seq", [id, Buffer.from("PING"), encode({ v: 1, from: member(), target: "n1", updates: [] })], /seq/],
    [
      "17 updates",
      [id, Buffer.from("ACK"), encode({ v: 1, from: member(), seq: 1, target: "n1", updates: Array(17).fill(member()) })],
      /at most 16/,
    ],
    [
      "a member with a bad state",
      [id, Buffer.from("JOIN"), encode({ v: 1, from: member({ state: "zombie" as "alive" }), updates: [] })],
      /state/,
    ],
    [
      "a member with a udp endpoint",
      [id, Buffer.from("JOIN"), encode({ v: 1, from: member({ pub: "udp://x:1" }), updates: [] })],
      /endpoint/,
    ],
    [
      "too many versions",
      [id, Buffer.from("DIGEST"), encode({ v: 1, from: "n1", reply: true, versions: Array(MAX_KEYS + 1).fill(["k", 1, "n1"]) })],
      /at most/,
    ],
    ["a version of two", [id, Buffer.from("DIGEST"), encode({ v: 1, from: "n1", reply: true, versions: [["k", 1]] })], /version/],
    [
      "257 delta entries",
      [id, Buffer.from("DELTA"), encode({ v: 1, from: "n1", entries: Array(257).fill(e("k", 1, "n1", "v")) })],
      /at most 256/,
    ],
    [
      "an adjustment of two days",
      [id, Buffer.from("ADJUST"), encode({ v: 1, from: "n1", round: 1, adjustMs: 2 * 86_400_000 })],
      /adjustMs/,
    ],
    ["a clock reading that is text", [id, Buffer.from("TIME"), encode({ v: 1, from: "n1", round: 1, clock: "now" })], /clock/],
    ["admin op frob", [id, Buffer.from("ADMIN"), encode({ v: 1, op: "frob", key: "k" })], /op/],
    ["admin set without value", [id, Buffer.from("ADMIN"), encode({ v: 1, op: "set", key: "k" })], /value/],
  ])("refuses %s", (_what, frames, reason) => {
    const m = fromMailbox(frames as Buffer[]);
    expect(m.kind).toBe("invalid");
    expect((m as { reason: string }).reason).toMatch(reason);
  });

  it("the admin's decoder takes a reply with an entry and a status", () => {
    const reply = encodeAdminReply({ ok: true, entry: e("k", 2, "n1", "v") }).map((f) => Buffer.from(f));
    expect(fromNode(reply)).toEqual({ ok: true, value: { ok: true, entry: e("k", 2, "n1", "v") } });
    expect(fromNode([Buffer.from("NOPE"), encode({ ok: true })]).ok).toBe(false);
  });
});

describe("the beacon", () => {
  const valid = { id: "node-1", inc: 3, mailboxPort: 40000, pubPort: 40001, rank: 1 };
  it("round-trips", () => expect(decodeBeacon(encodeBeacon(valid))).toEqual({ ok: true, value: valid }));
  it.each([
    ["short", (b: Buffer) => b.subarray(0, 10), /bytes/],
    ["wrong magic", (b: Buffer) => Buffer.concat([Buffer.from("ZRE"), b.subarray(3)]), /magic/],
    ["version 2", (b: Buffer) => Object.assign(Buffer.from(b), { 4: 2 }), /version/],
    ["id length past the end", (b: Buffer) => Object.assign(Buffer.from(b), { 15: 60 }), /length/],
    ["port 0", (b: Buffer) => Buffer.from(b).fill(0, 9, 11), /port 0/],
    ["a space in the id", (b: Buffer) => Object.assign(Buffer.from(b), { 20: 32 }), /id/],
  ])("refuses %s", (_what, mutate, reason) => {
    const d = decodeBeacon(mutate(encodeBeacon(valid)));
    expect(d.ok).toBe(false);
    expect((d as { reason: string }).reason).toMatch(reason);
  });
});

describe("last-writer-wins", () => {
  it.each([
    ["the higher clock wins", e("k", 2, "a", "x"), e("k", 1, "z", "y"), 1],
    ["on a clock tie, the higher origin", e("k", 2, "b", "x"), e("k", 2, "a", "y"), 1],
    ["on a full tie, the tombstone", e("k", 2, "a"), e("k", 2, "a", "y"), 1],
    ["on a full tie of values, the higher value", e("k", 2, "a", "b"), e("k", 2, "a", "a"), 1],
    ["the same entry", e("k", 2, "a", "b"), e("k", 2, "a", "b"), 0],
  ])("%s", (_what, a, b, sign) => {
    expect(Math.sign(compareEntries(a, b))).toBe(sign);
    expect(Math.sign(compareEntries(b, a)) + sign).toBe(0);
  });

  it("merges in any order to the same map, and the Lamport clock stays above every clock seen", () => {
    const updates = [e("a", 1, "n1", "1"), e("a", 1, "n2", "2"), e("b", 5, "n1", "x"), e("b", 3, "n3"), e("a", 2, "n1")];
    const digests = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const m = new LwwMap();
      for (const u of [...updates].sort(() => Math.random() - 0.5)) m.merge(u);
      digests.add(m.digest());
      expect(m.lamport).toBe(5);
      expect(m.write("c", "new", "n9")?.clock).toBe(6);
    }
    expect(digests.size).toBe(1);
  });

  it("tells what a peer lacks and whether it is behind; collects old tombstones; refuses keys past the limit", () => {
    const m = new LwwMap(3);
    m.merge(e("a", 2, "n1", "x"), 0);
    m.merge(e("b", 1, "n1"), 0);
    expect(m.newerThan([["a", 2, "n1"]]).map((x) => x.key)).toEqual(["b"]);
    expect(
      m
        .newerThan([
          ["a", 1, "n9"],
          ["b", 1, "n1"],
        ])
        .map((x) => x.key),
    ).toEqual(["a"]);
    expect(m.behind([["a", 2, "n1"]])).toBe(false);
    expect(m.behind([["a", 2, "n2"]])).toBe(true);
    expect(m.behind([["z", 1, "n1"]])).toBe(true);
    m.merge(e("c", 1, "n1", "c"));
    expect(m.merge(e("d", 1, "n1", "d"))).toBe("full");
    expect(m.write("d", "d", "n1")).toBeUndefined();
    expect(m.collect(500, 1000)).toEqual([]);
    expect(m.collect(1000, 1000)).toEqual(["b"]);
    expect(mapDigest(m.all())).toBe(m.digest());
  });
});

describe("Berkeley", () => {
  it("estimates an offset from the middle of the round trip", () => {
    expect(estimateOffset(10_050, 1000, 1100)).toBe(9000);
  });

  it.each([
    ["one clock 5 s ahead is left out; the average of the rest", [0, 10, -10, 5000], 0, ["s4"]],
    ["two clocks: no majority to call one an outlier", [5000], 2500, []],
    ["every clock near: all averaged", [10, 20, 30], 15, []],
  ])("%s", (_what, offsets, average, outliers) => {
    const r = berkeleyRound(
      "coord",
      offsets.map((o, i) => ({ id: `s${i + 1}`, offsetMs: o, rttMs: 1 })),
      1000,
    );
    expect(r.averageMs).toBe(average);
    expect(r.outliers).toEqual(outliers);
    // Every clock, the outliers' too, is moved to the average.
    for (const [i, o] of offsets.entries()) expect(o + (r.adjustments.get(`s${i + 1}`) as number)).toBe(average);
    expect(r.adjustments.get("coord")).toBe(average);
  });
});

describe("SWIM precedence (what a record about a member does to it)", () => {
  const setup = (held: Partial<MemberRecord>) => {
    const events: MemberEvent[] = [];
    const m = new Membership(
      member({ id: "me", rank: 1 }),
      { probeMs: 100, ackTimeoutMs: 30, suspectMs: 300, deadRetainMs: 1000, indirect: 1, retransmit: 1 },
      () => 0.5,
      {
        send: () => {},
        event: (e) => events.push(e),
      },
    );
    m.learn(member(held), 0);
    events.length = 0;
    return { m, events };
  };
  it.each([
    ["alive 1 ← suspect 1", { state: "alive", inc: 1 }, { state: "suspect", inc: 1 }, "suspect"],
    ["alive 1 ← suspect 0 (stale)", { state: "alive", inc: 1 }, { state: "suspect", inc: 0 }, "alive"],
    ["suspect 1 ← alive 1 (no refutation)", { state: "suspect", inc: 1 }, { state: "alive", inc: 1 }, "suspect"],
    ["suspect 1 ← alive 2 (refuted)", { state: "suspect", inc: 1 }, { state: "alive", inc: 2 }, "alive"],
    ["suspect 1 ← suspect 2", { state: "suspect", inc: 1 }, { state: "suspect", inc: 2 }, "suspect"],
    ["alive 1 ← dead 1", { state: "alive", inc: 1 }, { state: "dead", inc: 1 }, "dead"],
    ["alive 2 ← dead 1 (stale)", { state: "alive", inc: 2 }, { state: "dead", inc: 1 }, "alive"],
  ] as [string, Partial<MemberRecord>, Partial<MemberRecord>, string][])("%s", (_what, held, heard, after) => {
    const { m } = setup(held);
    m.learn(member(heard), 10);
    expect(m.members.get("n2")?.state).toBe(after);
  });

  it("a dead member with the same incarnation is not revived; a higher one is, at its new endpoints", () => {
    const { m, events } = setup({ state: "alive", inc: 1 });
    m.learn(member({ state: "dead", inc: 1 }), 10);
    m.learn(member({ state: "alive", inc: 1 }), 20);
    expect(m.members.get("n2")?.state).toBe("dead");
    m.learn(member({ state: "alive", inc: 2, pub: "tcp://127.0.0.1:9" }), 30);
    expect(m.members.get("n2")).toMatchObject({ state: "alive", inc: 2, pub: "tcp://127.0.0.1:9" });
    expect(events.map((e) => e.kind)).toEqual(["dead", "alive"]);
  });

  it("a rumour that this node is suspect or dead is refuted with a higher incarnation", () => {
    const { m, events } = setup({});
    m.learn(member({ id: "me", state: "suspect", inc: 0 }), 10);
    expect(m.self.inc).toBe(1);
    m.learn(member({ id: "me", state: "dead", inc: 4 }), 10);
    expect(m.self.inc).toBe(5);
    expect(events.filter((e) => e.kind === "refuted")).toHaveLength(2);
  });

  it("a silent member: PING, then PING-REQ after the ack timeout, suspect at the end of the period, dead after the suspicion timeout, forgotten later", () => {
    const sent: string[] = [];
    const events: string[] = [];
    const m = new Membership(
      member({ id: "me" }),
      { probeMs: 100, ackTimeoutMs: 30, suspectMs: 300, deadRetainMs: 1000, indirect: 1, retransmit: 1 },
      () => 0,
      {
        send: (_to, msg) => sent.push(msg.kind),
        event: (e) => events.push(e.kind),
      },
    );
    m.learn(member({ id: "n2" }), 0);
    m.learn(member({ id: "n3", mailbox: "tcp://127.0.0.1:3" }), 0);
    for (let t = 0; t <= 1600; t += 10) {
      m.tick(t);
      // n3 answers its pings; n2 is silent.
      if (m.members.get("n3")?.state === "alive" && sent.at(-1) === "ping")
        m.handle(
          {
            kind: "ack",
            from: member({ id: "n3", mailbox: "tcp://127.0.0.1:3" }),
            seq: (m as unknown as { seq: number }).seq,
            target: "n3",
            updates: [],
          },
          t,
        );
    }
    expect(sent).toContain("ping-req");
    expect(events).toEqual(["joined", "joined", "suspect", "dead", "removed"]);
  });
});

describe("the store and the admin's command line", () => {
  it("replays entries and the incarnation, skipping bad lines; compaction keeps what is held", () => {
    const dir = mkdtempSync(join(tmpdir(), "lab23-store-"));
    try {
      const path = join(dir, "n1.jsonl");
      const s = new Store(path);
      s.compact([e("a", 1, "n1", "x")], 2);
      s.append(e("b", 2, "n2"));
      s.incarnation(3);
      writeFileSync(path, `${readFileSync(path, "utf8")}{"entry":{"key":""}}\nnot json\n{"torn":`, "utf8");
      const r = readStore(path);
      expect(r).toEqual({ entries: [e("a", 1, "n1", "x"), e("b", 2, "n2")], inc: 3, bad: 3 });
      expect(readStore(join(dir, "missing.jsonl"))).toEqual({ entries: [], inc: -1, bad: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("turns a command line into requests", () => {
    expect(requestsOf(["set", "a", "1", "b", "2"])).toEqual([
      { op: "set", key: "a", value: "1" },
      { op: "set", key: "b", value: "2" },
    ]);
    expect(requestsOf(["del", "a"])).toEqual([{ op: "del", key: "a" }]);
    expect(requestsOf(["status"])).toEqual([{ op: "status" }]);
  });
});
