import { describe, expect, it } from "vitest";
import { type LivenessEvent, LivenessTracker } from "../internal/liveness.ts";
import { heartbeat } from "./fixtures.ts";

const kinds = (events: LivenessEvent[]) => events.map((e) => (e.kind === "state" ? `${e.from}->${e.to}` : e.kind));

describe("liveness on a fake clock (interval 1000 ms, liveness 3)", () => {
  it("goes alive -> suspect -> dead with silence, and back to alive on a heartbeat", () => {
    const t = new LivenessTracker({ liveness: 3 });
    expect(kinds(t.heartbeat(heartbeat({ seq: 1 }), 0))).toEqual(["joined"]);
    expect(kinds(t.tick(1400))).toEqual([]);
    expect(kinds(t.tick(1500))).toEqual(["alive->suspect"]);
    expect(kinds(t.tick(2999))).toEqual([]);
    expect(kinds(t.tick(3000))).toEqual(["suspect->dead"]);
    expect(kinds(t.tick(9000))).toEqual([]);
    expect(kinds(t.heartbeat(heartbeat({ seq: 10 }), 9100))).toEqual(["dropped", "dead->alive"]);
    expect(t.agents()[0]).toMatchObject({ state: "alive", dropped: 8, lastSeq: 10 });
  });

  it("judges each agent by the interval it advertises", () => {
    const t = new LivenessTracker({ liveness: 3 });
    t.heartbeat(heartbeat({ agent: "fast", intervalMs: 100 }), 0);
    t.heartbeat(heartbeat({ agent: "slow", intervalMs: 5000 }), 0);
    t.tick(350);
    expect(t.agents().map((a) => [a.agent, a.state])).toEqual([
      ["fast", "dead"],
      ["slow", "alive"],
    ]);
  });

  it("recognises a restart by a new incarnation, not as a sequence gap", () => {
    const t = new LivenessTracker({ liveness: 3 });
    t.heartbeat(heartbeat({ seq: 41 }), 0);
    t.tick(5000);
    const events = t.heartbeat(heartbeat({ seq: 1, incarnation: "inc-2" }), 5100);
    expect(kinds(events)).toEqual(["restarted", "dead->alive"]);
    expect(t.agents()[0]).toMatchObject({ restarts: 1, dropped: 0, incarnation: "inc-2", lastSeq: 1 });
  });

  it("counts gaps as dropped heartbeats and treats a repeated beat as proof of life only", () => {
    const t = new LivenessTracker({ liveness: 3 });
    t.heartbeat(heartbeat({ seq: 1 }), 0);
    expect(kinds(t.heartbeat(heartbeat({ seq: 5 }), 100))).toEqual(["dropped"]);
    expect(kinds(t.heartbeat(heartbeat({ seq: 5 }), 200))).toEqual(["stale"]);
    expect(t.agents()[0]).toMatchObject({ dropped: 3, received: 2, lastSeenMs: 200 });
  });

  it("reports level changes, and an agent leaving a level-filtered view", () => {
    const t = new LivenessTracker({ liveness: 3, levels: ["crit"] });
    expect(kinds(t.heartbeat(heartbeat({ level: "ok" }), 0))).toEqual([]);
    expect(kinds(t.heartbeat(heartbeat({ seq: 2, level: "crit" }), 10))).toEqual(["joined"]);
    expect(kinds(t.heartbeat(heartbeat({ seq: 3, level: "ok" }), 20))).toEqual(["left-view"]);
    expect(t.agents()).toEqual([]);
    const all = new LivenessTracker({ liveness: 3 });
    all.heartbeat(heartbeat({ level: "ok" }), 0);
    expect(kinds(all.heartbeat(heartbeat({ seq: 2, level: "warn" }), 10))).toEqual(["level"]);
  });
});
