// The live views as data: a node's role, term, commit index, log length and leader; the proposer's policies.
import { describe, expect, it } from "vitest";
import { type NodeSnapshot, nodeView, proposerView } from "../internal/view.ts";

const node = (over: Partial<NodeSnapshot>): NodeSnapshot => ({
  id: "n1",
  role: "follower",
  term: 3,
  leader: "n2",
  commit: 12,
  lastIndex: 12,
  lastTerm: 3,
  votedFor: "n2",
  keys: 4,
  dropped: 0,
  lastApplied: "12: put policy/ssh=deny",
  ...over,
});

describe("a node's view", () => {
  it("a follower: its term, commit index, log length, leader and the last entry applied, in one row", () => {
    expect(nodeView(node({}))).toEqual({
      title: "n1 follower · term 3",
      rows: [
        [
          { text: "FOLLOWER", tone: "dim" },
          "term 3",
          "commit 12",
          "log 12",
          { text: "all committed", tone: "dim" },
          "leader n2",
          "4 keys",
          { text: "last: 12: put policy/ssh=deny", tone: "dim" },
        ],
      ],
    });
  });

  it("a leader with entries not yet committed, a candidate without a leader, drops counted", () => {
    const leader = nodeView(node({ role: "leader", leader: "n1", lastIndex: 20 }));
    expect(leader.rows?.[0]?.[0]).toEqual({ text: "LEADER", tone: "good" });
    expect(leader.rows?.[0]?.[4]).toEqual({ text: "+8 uncommitted", tone: "warn" });
    const candidate = nodeView(node({ role: "candidate", leader: undefined, votedFor: "n1", dropped: 3 }));
    expect(candidate.rows?.[0]?.[0]).toEqual({ text: "CANDIDATE", tone: "warn" });
    expect(candidate.rows?.[0]?.[5]).toEqual({ text: "no leader (voted n1)", tone: "warn" });
    expect(candidate.rows?.[0]?.[7]).toEqual({ text: "last: 12: put policy/ssh=deny · dropped 3", tone: "dim" });
  });
});

describe("the proposer's view", () => {
  it("counts and the policies as last committed or read, deny in red, allow in green", () => {
    expect(
      proposerView({
        done: 1234,
        failed: 1,
        retries: 7,
        leader: "n3",
        inFlight: 1,
        values: [
          ["policy/dns", "allow"],
          ["policy/ssh", "deny"],
          ["policy/usb", null],
          ["policy/vpn", "audit"],
        ],
      }),
    ).toEqual({
      title: "1,234 committed · 1 in flight · retries 7 · gave up 1 · leader n3",
      columns: ["POLICY", "VALUE"],
      rows: [
        ["policy/dns", { text: "allow", tone: "good" }],
        ["policy/ssh", { text: "deny", tone: "bad" }],
        ["policy/usb", { text: "(deleted)", tone: "dim" }],
        ["policy/vpn", { text: "audit", tone: "info" }],
      ],
    });
  });
});
