import { renderView, type ViewCell } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { LivenessTracker } from "../internal/liveness.ts";
import { dashboardView, VIEW_COLUMNS } from "../internal/view.ts";
import { heartbeat, METRICS } from "./fixtures.ts";

const text = (cell: ViewCell | undefined) => (typeof cell === "object" ? cell.text : cell);
const tone = (cell: ViewCell | undefined) => (typeof cell === "object" ? cell.tone : undefined);
const options = { liveness: 3, malformed: 2, refused: 0, subscriptions: ["hb."] };

describe("the dashboard's live view", () => {
  it("has a row per agent: state, last beat age, level, host figures, lost beats and restarts", () => {
    const t = new LivenessTracker({ liveness: 3 });
    t.heartbeat(heartbeat({ agent: "web-1", rack: "rack1" }), 0);
    t.heartbeat(heartbeat({ agent: "web-2", rack: "rack1", level: "crit", reason: "simulated critical" }), 0);
    t.heartbeat(heartbeat({ agent: "db-1", rack: "rack2", metrics: { ...METRICS, cpu: 0.934, load1: 1.5 } }), 0);
    t.heartbeat(heartbeat({ agent: "web-2", rack: "rack1", seq: 4, level: "crit", reason: "simulated critical" }), 1000);
    t.heartbeat(heartbeat({ agent: "db-1", rack: "rack2", incarnation: "inc-2", metrics: { ...METRICS, cpu: 0.934, load1: 1.5 } }), 1000);
    t.tick(1600);
    const view = dashboardView(t.agents(), 1600, options);

    expect(view.title).toBe("3 agents: 2 alive, 1 suspect, 0 dead");
    expect(view.columns).toEqual(VIEW_COLUMNS);
    // The cells as text, then the tones the screen colours them with (state, last beat, level, lost, restarts).
    expect(view.rows?.map((r) => r.map(text))).toEqual([
      ["web-1", "rack1", "suspect", "1.6s ago", "ok", "10%", "0.50", "25%", 1, 0, 0, ""],
      ["web-2", "rack1", "alive", "0.6s ago", "crit", "10%", "0.50", "25%", 4, 2, 0, "simulated critical"],
      ["db-1", "rack2", "alive", "0.6s ago", "ok", "93%", "1.50", "25%", 1, 0, 1, ""],
    ]);
    expect(view.rows?.map((r) => [2, 3, 4, 9, 10].map((c) => tone(r[c])))).toEqual([
      ["warn", "warn", "good", undefined, undefined],
      ["good", "dim", "bad", "warn", undefined],
      ["good", "dim", "good", undefined, "info"],
    ]);
    expect(view.summary).toEqual([
      "suspect after 1.5 intervals of silence, dead after 3 (each agent's own interval) · malformed dropped 2",
    ]);
  });

  it("names a filter in the title, says when there is nobody yet, and renders as aligned text", () => {
    const empty = dashboardView([], 0, { ...options, subscriptions: ["hb.crit."] });
    expect(empty.title).toBe("0 agents: 0 alive, 0 suspect, 0 dead · subscribed to hb.crit.");
    expect(empty.summary?.[0]).toBe("no heartbeat yet: an agent appears at its first heartbeat");

    const t = new LivenessTracker({ liveness: 3 });
    t.heartbeat(heartbeat({ agent: "web-1" }), 0);
    t.tick(3000);
    const lines = renderView(dashboardView(t.agents(), 3000, options), { width: 200, color: false });
    expect(lines[1]).toMatch(/^AGENT {2}RACK {3}STATE {2}LAST BEAT {2}LEVEL/);
    expect(lines[2]).toMatch(/^web-1 {2}rack1 {2}dead {3}3\.0s ago {3}ok /);
  });
});
