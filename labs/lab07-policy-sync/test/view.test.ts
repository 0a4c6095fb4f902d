// The live views: pure functions of a snapshot.
import { describe, expect, it } from "vitest";
import { adminView, type MasterSnapshot, masterView, nodeView } from "../internal/view.ts";

const counts = { published: 12, snapshots: 3, refused: 1, expired: 2, held: 0, duplicates: 0, flushed: 0, dropped: 0 };
const master = (over: Partial<MasterSnapshot> = {}): MasterSnapshot => ({
  role: "primary",
  state: "active",
  seq: 12n,
  keys: 4,
  expiring: 1,
  subtrees: [
    ["/acl/core/", 1],
    ["/acl/edge/", 3],
  ],
  clients: [
    { name: "fw-1#ab12", subtree: "/acl/edge/", keys: 3, agoMs: 2000 },
    { name: "backup-master#9f00", subtree: "", keys: 4, agoMs: 1000 },
  ],
  pending: 0,
  following: undefined,
  peerHeard: 200,
  counts,
  ...over,
});

describe("views", () => {
  it("an active master: state, sequence, rules, its clients newest first, what it published", () => {
    const v = masterView(master());
    expect(v.title).toBe("ACTIVE · seq 12 · 4 rules (1 with a ttl)");
    expect(v.rows?.map((r) => r[0])).toEqual(["backup-master#9f00", "fw-1#ab12"]);
    expect(v.rows?.[0]?.[1]).toEqual({ text: "(all)", tone: "dim" });
    expect(v.summary).toEqual(["peer: heard · subtrees: /acl/core/ 1, /acl/edge/ 3", "published 12 · expired 2 · snapshots 3 · dropped 0"]);
  });

  it("a passive master: following the active peer, its pending list; a silent peer", () => {
    const v = masterView(master({ state: "passive", following: "synced", pending: 2, clients: [], peerHeard: 4500 }));
    expect(v.title).toBe("PASSIVE · seq 12 · 4 rules (1 with a ttl)");
    expect(v.rows).toEqual([[{ text: "no snapshot served yet", tone: "dim" }, "", "", ""]]);
    expect(v.summary?.[0]).toMatch(/^peer silent 4.5 s/);
    expect(v.summary?.[1]).toBe("following the active peer (synced) · pending 2 · de-duplicated 0 · refused snapshots 1 · dropped 0");
  });

  it("a firewall node: rules, sequence, its server, the last decisions newest first", () => {
    const v = nodeView({
      name: "fw-1",
      subtree: "/acl/edge/",
      rules: 5,
      invalid: 1,
      seq: 9n,
      state: "active",
      server: "tcp://127.0.0.1:5073",
      decisions: [
        { flow: "tcp 1.1.1.1:1 10.1.0.1:443", allowed: true, rule: "/acl/edge/0100", agoMs: 3000 },
        { flow: "tcp 203.0.113.9:1 10.1.0.1:443", allowed: false, rule: undefined, agoMs: 100 },
      ],
      counts: { snapshots: 2, updates: 7, failovers: 1, gaps: 0, invalid: 0, queries: 2 },
    });
    expect(v.title).toBe("/acl/edge/ · 5 rules, 1 invalid · seq 9");
    expect(v.rows?.[0]?.slice(1, 3)).toEqual([
      { text: "DENY", tone: "bad" },
      { text: "(no rule: default deny)", tone: "dim" },
    ]);
    expect(v.rows?.[1]?.[1]).toEqual({ text: "ALLOW", tone: "good" });
    expect(v.summary).toEqual(["following tcp://127.0.0.1:5073", "snapshots 2 · updates 7 · fail-overs 1 · gaps 0 · invalid 0 · checks 2"]);
  });

  it("the admin: what it changed, acknowledged or not, and what the nodes decided after", () => {
    const v = adminView({
      changes: [
        {
          what: "set",
          key: "/acl/edge/0300",
          rule: "allow tcp 10.0.0.0/8 any 10.1.0.22 22",
          ttlS: 8,
          seq: 5n,
          nodes: "fw-1 ALLOW",
          agoMs: 1000,
        },
        { what: "delete", key: "/acl/edge/0050", rule: "", ttlS: 0, seq: undefined, nodes: "", agoMs: 10 },
      ],
      sent: 2,
      acked: 1,
      unacked: 1,
      next: "set /acl/edge/0300 in 4 s",
    });
    expect(v.title).toBe("policy admin: 2 changes sent, 1 acknowledged, 1 not");
    expect(v.rows?.[0]?.[3]).toEqual({ text: "not acked", tone: "bad" });
    expect(v.rows?.[1]?.slice(2, 5)).toEqual(["allow tcp 10.0.0.0/8 any 10.1.0.22 22 (ttl 8 s)", "seq 5", "fw-1 ALLOW"]);
    expect(v.summary).toBe("next: set /acl/edge/0300 in 4 s");
  });
});
