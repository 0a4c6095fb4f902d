// The Binary Star FSM against the Guide's table (bstar.c s_execute_fsm), row by row, and every
// (state, event) pair the table does not list: ignored, state kept.
import { describe, expect, it } from "vitest";
import { type BStarEvent, type BStarState, EVENTS, IGNORED, PEER_EVENT, STATE_NUMBER, STATES, step } from "../internal/fsm.ts";

const EXPIRY = 10_000;
const BEFORE = EXPIRY - 1; // the peer was heard less than two heartbeats ago
const AFTER = EXPIRY; // now >= peerExpiry: the peer counts as gone

type Row = [state: BStarState, event: BStarEvent, now: number, next: BStarState, outcome: "accept" | "reject" | "fatal"];

/** Every row of the Guide's table; a client request row twice, before and at the peer's expiry. */
const TABLE: Row[] = [
  ["primary", "peer-backup", BEFORE, "active", "accept"],
  ["primary", "peer-active", BEFORE, "passive", "accept"],
  ["primary", "client-request", BEFORE, "primary", "reject"],
  ["primary", "client-request", AFTER, "active", "accept"],
  ["backup", "peer-active", BEFORE, "passive", "accept"],
  ["backup", "client-request", BEFORE, "backup", "reject"],
  ["backup", "client-request", AFTER, "backup", "reject"],
  ["active", "peer-active", BEFORE, "active", "fatal"],
  ["active", "client-request", BEFORE, "active", "accept"],
  ["active", "client-request", AFTER, "active", "accept"],
  ["passive", "peer-primary", BEFORE, "active", "accept"],
  ["passive", "peer-backup", BEFORE, "active", "accept"],
  ["passive", "peer-passive", BEFORE, "passive", "fatal"],
  ["passive", "client-request", BEFORE, "passive", "reject"],
  ["passive", "client-request", AFTER, "active", "accept"],
];

const listed = new Set(TABLE.map(([s, e]) => `${s}/${e}`));
const IGNORED_PAIRS = STATES.flatMap((s) => EVENTS.filter((e) => !listed.has(`${s}/${e}`)).map((e) => [s, e] as const));

describe("the Binary Star FSM (the Guide's table)", () => {
  it.each(TABLE)("%s + %s at now=%i -> %s, %s", (state, event, now, next, outcome) => {
    const result = step(state, event, now, EXPIRY);
    expect(result.state).toBe(next);
    expect(result.outcome).toBe(outcome);
    expect(result.reason).not.toBe(IGNORED);
  });

  it("lists every pair the table ignores: 9 of the 20", () => {
    expect(IGNORED_PAIRS.map(([s, e]) => `${s}/${e}`)).toEqual([
      "primary/peer-primary",
      "primary/peer-passive",
      "backup/peer-primary",
      "backup/peer-backup",
      "backup/peer-passive",
      "active/peer-primary",
      "active/peer-backup",
      "active/peer-passive",
      "passive/peer-active",
    ]);
  });

  it.each(IGNORED_PAIRS)("%s ignores %s (the state stays, nothing fatal), before and after the expiry", (state, event) => {
    for (const now of [BEFORE, AFTER]) expect(step(state, event, now, EXPIRY)).toEqual({ state, outcome: "accept", reason: IGNORED });
  });

  it("the fatal rows are the Guide's dual actives and dual passives", () => {
    expect(step("active", "peer-active", 0, 0).reason).toMatch(/dual actives/);
    expect(step("passive", "peer-passive", 0, 0).reason).toMatch(/dual passives/);
  });

  it("a primary started alone goes active on the first request two heartbeats after its start (no assert)", () => {
    const heartbeat = 1000;
    const started = 5000;
    const expiry = started + 2 * heartbeat; // what BinaryStar starts peerExpiry at
    expect(step("primary", "client-request", started + 1999, expiry).outcome).toBe("reject");
    expect(step("primary", "client-request", started + 2000, expiry)).toMatchObject({ state: "active", outcome: "accept" });
  });

  it("a backup alone never serves, however long its peer is silent", () => {
    for (const now of [0, 1e6, Number.MAX_SAFE_INTEGER]) expect(step("backup", "client-request", now, 0).outcome).toBe("reject");
  });

  it("no automatic fail-back: an active backup ignores its primary coming back, the primary goes passive", () => {
    expect(step("active", "peer-primary", 0, 0)).toMatchObject({ state: "active", outcome: "accept" });
    expect(step("active", "peer-passive", 0, 0)).toMatchObject({ state: "active", outcome: "accept" });
    expect(step("primary", "peer-active", 0, 0)).toMatchObject({ state: "passive", outcome: "accept" });
  });

  it("wire numbers are the Guide's: 1 primary, 2 backup, 3 active, 4 passive; a peer's state is the matching event", () => {
    expect(STATE_NUMBER).toEqual({ primary: 1, backup: 2, active: 3, passive: 4 });
    for (const s of STATES) expect(PEER_EVENT[s]).toBe(`peer-${s}`);
  });
});
