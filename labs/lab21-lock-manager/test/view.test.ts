// The three live views as data from snapshots.
import { describe, expect, it } from "vitest";
import {
  type ClientSnapshot,
  clientView,
  type LedgerSnapshot,
  ledgerView,
  MAX_ROWS,
  type ServerSnapshot,
  serverView,
} from "../internal/view.ts";

const server = (over: Partial<ServerSnapshot> = {}): ServerSnapshot => ({
  locks: [{ name: "ledger", holder: "w1", token: 7, leftMs: 4200, ttlMs: 6000, waiters: ["w2", "w3"] }],
  clients: 4,
  grants: 7,
  releases: 5,
  expiries: 1,
  denied: 0,
  waitersDropped: 0,
  graceLeftMs: 0,
  lastToken: 7,
  highWater: 1000,
  dropped: 2,
  retried: 3,
  ...over,
});

describe("the lock server's view", () => {
  it("each lock with its holder, token, lease left and line of waiters", () => {
    const v = serverView(server());
    expect(v.title).toBe("1 lock in use · 4 clients");
    expect(v.columns).toEqual(["LOCK", "HOLDER", "TOKEN", "LEASE LEFT", "WAITERS (FIFO)"]);
    expect(v.rows).toEqual([["ledger", "w1", 7, { text: "4.2 s", tone: "good" }, "w2 → w3"]]);
    expect(v.summary).toEqual([
      "grants 7 · released 5 · expired 1 · denied 0 · silent waiters dropped 0",
      "last token 7 (reserved on disk up to 1,000) · retried requests 3 · dropped 2",
    ]);
  });

  it("a lease in its last third is red; a free lock and an empty line are dim; the grace period is in the title", () => {
    const v = serverView(
      server({
        locks: [
          { name: "a", holder: "w1", token: 3, leftMs: 1000, ttlMs: 6000, waiters: [] },
          { name: "b", holder: undefined, token: undefined, leftMs: undefined, ttlMs: undefined, waiters: ["w2"] },
        ],
        graceLeftMs: 4100,
      }),
    );
    expect(v.title).toContain("GRACE 4.1 s: no grants after a restart");
    expect(v.rows?.[0]?.[3]).toEqual({ text: "1.0 s", tone: "bad" });
    expect(v.rows?.[0]?.[4]).toEqual({ text: "none", tone: "dim" });
    expect(v.rows?.[1]?.slice(1, 4)).toEqual([
      { text: "free", tone: "dim" },
      { text: "-", tone: "dim" },
      { text: "-", tone: "dim" },
    ]);
  });

  it("shows at most MAX_ROWS locks and counts the rest", () => {
    const locks = Array.from({ length: MAX_ROWS + 5 }, (_, i) => ({
      name: `l${i}`,
      holder: "w",
      token: i,
      leftMs: 100,
      ttlMs: 100,
      waiters: [],
    }));
    const v = serverView(server({ locks }));
    expect(v.rows).toHaveLength(MAX_ROWS + 1);
    expect(v.rows?.at(-1)?.[0]).toEqual({ text: "… 5 more locks", tone: "dim" });
  });
});

describe("a writer's view", () => {
  const client = (over: Partial<ClientSnapshot>): ClientSnapshot => ({
    id: "w1",
    lock: "ledger",
    phase: "holding",
    forMs: 1000,
    token: 7,
    leaseLeftMs: 3300,
    turns: 2,
    accepted: 5,
    refused: 0,
    unanswered: 0,
    lastRefusal: "",
    ...over,
  });

  it("holding with its token and lease, waiting, resting; writes accepted and refused", () => {
    expect(clientView(client({}))).toEqual({
      title: "HOLDING ledger · token 7 · lease 3.3 s left",
      summary: "turns 2 · writes accepted 5 · refused 0",
    });
    expect(clientView(client({ phase: "waiting", token: undefined, forMs: 2500 })).title).toBe("waiting for ledger 2.5 s");
    expect(clientView(client({ phase: "resting", token: undefined })).title).toBe("resting 1.0 s");
    expect(clientView(client({ phase: "holding", token: undefined })).title).toBe("lost ledger");
    expect(clientView(client({ refused: 1, lastRefusal: "token 7 is not the current lease (current: 8)" })).summary).toBe(
      "turns 2 · writes accepted 5 · refused 1 · last refusal: token 7 is not the current lease (current: 8)",
    );
  });
});

describe("the ledger's view", () => {
  it("entries, last token and writer per lock; stale writes refused", () => {
    const s: LedgerSnapshot = {
      entries: 12,
      seq: 40,
      locks: [{ name: "ledger", entries: 40, lastToken: 9, lastClient: "w3" }],
      staleRefused: 2,
      unavailableRefused: 1,
      dropped: 0,
      file: "/x/ledger.jsonl",
    };
    expect(ledgerView(s)).toEqual({
      title: "40 entries · stale writes refused 2",
      columns: ["LOCK", "ENTRIES", "LAST TOKEN", "LAST WRITER"],
      rows: [["ledger", "40", 9, "w3"]],
      summary: "accepted since start 12 · refused, lock server silent 1 · malformed dropped 0",
    });
  });
});
