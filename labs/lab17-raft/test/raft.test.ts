// The Raft core as a state machine, one rule at a time: each test drives RaftNode by hand with a
// fixed clock and fixed randomness, and looks at what it would persist and send.
import { describe, expect, it } from "vitest";
import { KvStore } from "../internal/kv.ts";
import { type DurableState, EMPTY_STATE, type Entry, type RaftMessage, RaftNode } from "../internal/raft.ts";

const PEERS = ["n1", "n2", "n3", "n4", "n5"];
const node = (id: string, state: DurableState = EMPTY_STATE, maxBatch = 64) =>
  new RaftNode<string>(
    { id, peers: PEERS.filter((p) => p !== id), electionMinMs: 150, electionMaxMs: 300, heartbeatMs: 50, maxBatch },
    structuredClone(state),
    () => 0,
    0,
  );
const put = (key: string, value: string, client = "c", seq = 1) => ({ op: "put" as const, key, value, client, seq });
const e = (term: number, seq?: number): Entry => (seq === undefined ? { term } : { term, cmd: put("k", `v${seq}`, "c", seq) });
const log = (...terms: number[]) => terms.map((t, i) => e(t, i + 1));
const sent = (out: { send: { to: string; msg: RaftMessage }[] }, type: RaftMessage["type"]) => out.send.filter((s) => s.msg.type === type);

/** Makes n1 leader of term `term` with the given log (votes from n2 and n3). */
function leader(state: DurableState, maxBatch = 64) {
  const n = node("n1", state, maxBatch);
  n.tick(1000);
  const term = n.term;
  n.take();
  for (const p of ["n2", "n3"]) n.receive(p, { type: "voteResp", term, granted: true }, 1001);
  return n;
}

describe("elections", () => {
  it("a follower whose timeout passes becomes a candidate of the next term, votes for itself, persists that, and asks everyone", () => {
    const n = node("n1", { term: 4, votedFor: "n2", log: log(1, 4) });
    n.tick(149);
    expect(n.take().send).toEqual([]);
    n.tick(150);
    const out = n.take();
    expect(n.role).toBe("candidate");
    expect(out.persist).toMatchObject({ term: 5, votedFor: "n1" });
    expect(sent(out, "vote").map((s) => s.to)).toEqual(["n2", "n3", "n4", "n5"]);
    expect(out.send[0]?.msg).toEqual({ type: "vote", term: 5, lastLogIndex: 2, lastLogTerm: 4 });
  });

  it.each([
    ["a longer log of the same last term", 3, 2, true],
    ["the same log", 2, 2, true],
    ["a shorter log of the same last term", 1, 2, false],
    ["a longer log of an older last term", 9, 1, false],
    ["a shorter log of a newer last term", 1, 3, true],
  ])("the up-to-date check: a candidate with %s gets the vote: %s", (_what, lastLogIndex, lastLogTerm, granted) => {
    const n = node("n2", { term: 2, votedFor: null, log: log(1, 2) });
    n.receive("n1", { type: "vote", term: 3, lastLogIndex, lastLogTerm }, 10);
    const out = n.take();
    expect(sent(out, "voteResp")).toEqual([{ to: "n1", msg: { type: "voteResp", term: 3, granted } }]);
    // The new term is persisted before the answer either way; the vote only when granted.
    expect(out.persist).toMatchObject({ term: 3, votedFor: granted ? "n1" : null });
  });

  it("one vote per term: a second candidate of the same term is refused, the first one asking again is granted again", () => {
    const n = node("n3");
    n.receive("n1", { type: "vote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 10);
    n.receive("n2", { type: "vote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 11);
    n.receive("n1", { type: "vote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 12);
    expect(sent(n.take(), "voteResp").map((s) => [s.to, (s.msg as { granted: boolean }).granted])).toEqual([
      ["n1", true],
      ["n2", false],
      ["n1", true],
    ]);
  });

  it("a vote survives a restart: the node comes back from its persisted state and still refuses the other candidate", () => {
    const n = node("n3");
    n.receive("n1", { type: "vote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 10);
    const p = n.take().persist;
    const restarted = node("n3", { term: p?.term ?? 0, votedFor: p?.votedFor ?? null, log: [] });
    restarted.receive("n2", { type: "vote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 20);
    expect(sent(restarted.take(), "voteResp")[0]?.msg).toMatchObject({ granted: false });
  });

  it("a majority of votes makes a leader, which appends a no-op of its term and sends AppendEntries to all", () => {
    const n = leader({ term: 1, votedFor: null, log: log(1) });
    expect(n.role).toBe("leader");
    expect(n.log.at(-1)).toEqual({ term: 2 });
    const out = n.take();
    expect(sent(out, "append").map((s) => s.to)).toEqual(["n2", "n3", "n4", "n5"]);
    expect(out.persist?.entries).toEqual([{ term: 2 }]);
  });

  it("any message of a higher term makes a leader step down, and its waiting clients are told", () => {
    const n = leader(EMPTY_STATE);
    n.propose(put("a", "1"), "client-a");
    n.take();
    n.receive("n4", { type: "appendResp", term: 7, success: false, match: 0, conflictTerm: 0, conflictIndex: 0, round: 0 }, 1003);
    const out = n.take();
    expect(n.role).toBe("follower");
    expect(n.term).toBe(7);
    expect(out.replies).toEqual([{ ref: "client-a", reply: { kind: "notLeader", leader: undefined } }]);
  });
});

describe("log replication", () => {
  it("the consistency check refuses a gap, and says where the follower's log ends", () => {
    const n = node("n2", { term: 2, votedFor: null, log: log(1, 1) });
    n.receive("n1", { type: "append", term: 2, prevIndex: 5, prevTerm: 2, entries: [], commit: 0, round: 1 }, 10);
    expect(sent(n.take(), "appendResp")[0]?.msg).toMatchObject({ success: false, conflictTerm: 0, conflictIndex: 3 });
  });

  it("fast back-off: a conflicting term is reported with its first index, and the leader skips past it at once", () => {
    // Follower: 1 1 2 2 2 (term 2 from an old leader); leader: 1 1 3 3 3 (+ its no-op of term 4).
    const f = node("n2", { term: 3, votedFor: null, log: log(1, 1, 2, 2, 2) });
    f.receive("n1", { type: "append", term: 4, prevIndex: 5, prevTerm: 3, entries: [], commit: 0, round: 1 }, 10);
    const resp = sent(f.take(), "appendResp")[0]?.msg as Extract<RaftMessage, { type: "appendResp" }>;
    expect(resp).toMatchObject({ success: false, conflictTerm: 2, conflictIndex: 3 });
    const l = leader({ term: 3, votedFor: null, log: log(1, 1, 3, 3, 3) });
    l.take();
    l.receive("n2", resp, 1002);
    const retry = sent(l.take(), "append").find((s) => s.to === "n2")?.msg as Extract<RaftMessage, { type: "append" }>;
    // The leader has no entry of term 2: it goes straight to the follower's first index of it.
    expect(retry).toMatchObject({ prevIndex: 2, prevTerm: 1 });
    expect(retry.entries.map((x) => x.term)).toEqual([3, 3, 3, 4]);
    f.receive("n1", retry, 11);
    expect(f.take().persist).toMatchObject({ from: 3 });
    expect(f.log.map((x) => x.term)).toEqual([1, 1, 3, 3, 3, 4]);
  });

  it("a late, shorter AppendEntries does not truncate entries that match", () => {
    const f = node("n2", { term: 2, votedFor: null, log: log(1, 2, 2) });
    f.receive("n1", { type: "append", term: 2, prevIndex: 1, prevTerm: 1, entries: [e(2, 2)], commit: 0, round: 1 }, 10);
    expect(f.lastIndex).toBe(3);
    expect(sent(f.take(), "appendResp")[0]?.msg).toMatchObject({ success: true, match: 2 });
  });

  it("batching: one AppendEntries carries up to --max-batch entries; with 1, one each", () => {
    for (const [maxBatch, perMessage] of [
      [64, [4]],
      [1, [1, 1, 1, 1]],
    ] as const) {
      const l = leader(EMPTY_STATE, maxBatch);
      l.take();
      l.receive("n2", { type: "appendResp", term: 1, success: true, match: 1, conflictTerm: 0, conflictIndex: 0, round: 1 }, 1002);
      l.take();
      for (let i = 1; i <= 4; i++) l.propose(put("k", `v${i}`, "c", i), `r${i}`);
      const toN2 = sent(l.take(), "append").filter((s) => s.to === "n2");
      expect(toN2.map((s) => (s.msg as { entries: Entry[] }).entries.length)).toEqual(perMessage);
    }
  });

  it("Figure 8: an entry of an older term on a majority is not committed by count; it commits with one of the leader's own term", () => {
    // n1 leads term 4 with an entry of term 2 at index 2 that it replicates to n2 and n3 (a majority with itself).
    const l = leader({ term: 3, votedFor: null, log: log(1, 2) });
    expect(l.term).toBe(4);
    l.take();
    for (const p of ["n2", "n3"])
      l.receive(p, { type: "appendResp", term: 4, success: true, match: 2, conflictTerm: 0, conflictIndex: 0, round: 1 }, 1002);
    expect(l.commitIndex).toBe(0);
    // Once its no-op (index 3, term 4) is on a majority, index 2 is committed with it.
    for (const p of ["n2", "n3"])
      l.receive(p, { type: "appendResp", term: 4, success: true, match: 3, conflictTerm: 0, conflictIndex: 0, round: 1 }, 1003);
    expect(l.commitIndex).toBe(3);
    expect(l.take().applied.map((a) => a.index)).toEqual([1, 2, 3]);
  });

  it("a client write is answered once committed and applied, with its result", () => {
    const l = leader(EMPTY_STATE);
    l.take();
    l.propose(put("policy/ssh", "deny"), "r1");
    expect(l.take().replies).toEqual([]);
    for (const p of ["n2", "n3"])
      l.receive(p, { type: "appendResp", term: 1, success: true, match: 2, conflictTerm: 0, conflictIndex: 0, round: 1 }, 1003);
    expect(l.take().replies).toEqual([{ ref: "r1", reply: { kind: "ok", result: { ok: true }, index: 2 } }]);
    expect(l.kv.get("policy/ssh")).toBe("deny");
  });

  it("a follower answers a client with the leader it follows", () => {
    const f = node("n2");
    f.receive("n1", { type: "append", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 1 }, 10);
    f.propose(put("a", "1"), "r");
    f.read("a", "q");
    expect(f.take().replies.map((r) => r.reply)).toEqual([
      { kind: "notLeader", leader: "n1" },
      { kind: "notLeader", leader: "n1" },
    ]);
  });
});

describe("reads through the leader (read index)", () => {
  it("a read waits for the leader's no-op to commit and for a heartbeat round a majority answers", () => {
    const l = leader({ term: 1, votedFor: null, log: [{ term: 1, cmd: put("k", "old") }] });
    l.take();
    l.read("k", "q");
    const first = sent(l.take(), "append")[0];
    if (first?.msg.type !== "append") throw new Error("no AppendEntries for the read");
    const round = first.msg.round;
    // Acks of an older round confirm nothing.
    for (const p of ["n2", "n3"])
      l.receive(p, { type: "appendResp", term: 2, success: true, match: 2, conflictTerm: 0, conflictIndex: 0, round: round - 1 }, 1003);
    expect(l.take().replies).toEqual([]);
    for (const p of ["n2", "n3"])
      l.receive(p, { type: "appendResp", term: 2, success: true, match: 2, conflictTerm: 0, conflictIndex: 0, round }, 1004);
    expect(l.take().replies).toEqual([{ ref: "q", reply: { kind: "ok", result: { ok: true, value: "old" }, index: 2 } }]);
  });
});

describe("the key-value state machine", () => {
  it("applies a (client, seq) once: a duplicate gets the first result, an older one has no effect", () => {
    const kv = new KvStore();
    expect(kv.apply({ op: "cas", key: "k", expect: null, value: "a", client: "c", seq: 1 })).toEqual({ ok: true });
    expect(kv.apply({ op: "cas", key: "k", expect: null, value: "a", client: "c", seq: 1 })).toEqual({ ok: true });
    expect(kv.apply({ op: "put", key: "k", value: "b", client: "c", seq: 2 })).toEqual({ ok: true });
    expect(kv.apply({ op: "put", key: "k", value: "z", client: "c", seq: 1 })).toEqual({ ok: false, stale: true });
    expect(kv.apply({ op: "delete", key: "k", client: "d", seq: 1 })).toEqual({ ok: true });
    expect(kv.apply({ op: "delete", key: "k", client: "d", seq: 2 })).toEqual({ ok: false });
    expect(kv.effects).toBe(4);
    expect(kv.get("k")).toBeNull();
  });
});
