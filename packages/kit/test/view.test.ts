import { describe, expect, it } from "vitest";
import { stripAnsi, textWidth, truncate, wrap } from "../src/terminal.ts";
import { waitUntil } from "../src/testing/index.ts";
import { asView, PinnedView, renderView, type View, ViewPublisher, viewModeFrom } from "../src/view.ts";
import { FakeTerminal } from "./vt.ts";

const view: View = {
  title: "engines: 2 idle",
  columns: ["ENGINE", "JOBS", "STATE"],
  rows: [
    ["fast-engine-1", 42, { text: "idle", tone: "good" }],
    ["slow-engine", 7, { text: "busy", tone: "warn" }],
  ],
  summary: "queue 0 · 49 scanned",
};

describe("a view rendered as text", () => {
  it("aligns the columns under their headings, title first and summary last", () => {
    expect(renderView(view, { width: 80, color: false })).toEqual([
      "engines: 2 idle",
      "ENGINE         JOBS  STATE",
      "fast-engine-1  42    idle",
      "slow-engine    7     busy",
      "queue 0 · 49 scanned",
    ]);
  });

  it("colours a cell by its tone only when asked, and never changes what the text says", () => {
    const colored = renderView(view, { width: 80, color: true });
    expect(colored[2]).toContain("\x1b[32midle\x1b[0m");
    expect(colored.map(stripAnsi)).toEqual(renderView(view, { width: 80, color: false }));
  });

  it("fits a narrow terminal and a short budget of lines", () => {
    const lines = renderView(
      { ...view, rows: Array.from({ length: 20 }, (_, i) => [`e${i}`, i, "idle"]) },
      { width: 12, color: false, maxLines: 6 },
    );
    expect(lines).toHaveLength(6);
    expect(lines.every((l) => textWidth(l) <= 12)).toBe(true);
    expect(lines[4]).toBe("… 18 more r…");
    expect(lines[5]).toBe("queue 0 · 4…");
  });

  it("accepts a view from another process only when it has the right shape", () => {
    expect(asView(view)).toBe(view);
    expect(asView({ title: "t" })).toBeDefined();
    for (const bad of [
      null,
      "x",
      {},
      { title: 1 },
      { title: "t", rows: [[{}]] },
      { title: "t", rows: "x" },
      { title: "t", summary: [1] },
    ]) {
      expect(asView(bad)).toBeUndefined();
    }
    expect(asView({ title: "t", rows: [[{ text: "x", tone: "blink" }]] })).toBeUndefined();
  });
});

describe("terminal text", () => {
  it("measures wide characters as two columns and cuts text with colours safely", () => {
    expect(textWidth("日本")).toBe(4);
    expect(textWidth("\x1b[31mab\x1b[0m")).toBe(2);
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("\x1b[31mabcdef\x1b[0m", 4)).toBe("\x1b[31mabc…\x1b[0m");
    expect(wrap("kill which? 1) broker  2) worker-1", 14)).toEqual(["kill which? 1)", "broker  2)", "worker-1"]);
  });
});

describe("where a role's view goes", () => {
  it("under the orchestrator over IPC, alone on a terminal drawn in place, in a pipe nowhere unless asked", () => {
    expect(viewModeFrom({ ZLABS_VIEW: "ipc" })).toBe(typeof process.send === "function" ? "ipc" : "off");
    expect(viewModeFrom({}, true)).toBe("tty");
    expect(viewModeFrom({}, false)).toBe("off");
    expect(viewModeFrom({ ZLABS_VIEW: "json" }, false)).toBe("json");
    expect(viewModeFrom({ ZLABS_VIEW: "off" }, true)).toBe("off");
  });

  it("sends the latest view at most once an interval, and always ends with the latest", async () => {
    const sent: string[] = [];
    const p = new ViewPublisher("ipc", { send: (m) => void sent.push(m.zlabsView.title), intervalMs: 30 });
    for (let i = 1; i <= 5; i++) p.publish({ title: `v${i}` });
    expect(sent).toEqual(["v1"]);
    await waitUntil(() => sent.length === 2, { timeoutMs: 2000, what: "the trailing view" });
    expect(sent).toEqual(["v1", "v5"]);
  });

  it("prints one JSON line per view with ZLABS_VIEW=json", () => {
    const term = new FakeTerminal();
    const p = new ViewPublisher("json", { out: term });
    p.publish({ title: "t" });
    expect(term.raw).toBe('{"view":{"title":"t"}}\n');
  });

  it("alone on a terminal: pinned to the top while log lines written by others scroll below it", () => {
    const term = new FakeTerminal(40, 10);
    const pinned = new PinnedView(term, false);
    pinned.draw({ title: "count 1" });
    // pino writes log lines straight to the terminal; the scroll region keeps them under the view.
    for (let i = 1; i <= 12; i++) term.apply(`log line ${i}\n`);
    pinned.draw({ title: "count 2" });
    const lines = term.lines();
    expect(lines[0]).toBe("count 2");
    expect(lines[1]).toMatch(/^─+$/);
    expect(lines.slice(2)).toContain("log line 12");
    expect(lines).not.toContain("log line 1");
    // A taller view moves the region down; closing gives the terminal back.
    pinned.draw({ title: "count 3", rows: [["a"], ["b"]] });
    expect(term.lines().slice(0, 4)).toEqual(["count 3", "a", "b", "─".repeat(40)]);
    pinned.close();
    term.apply("after\n");
    expect(term.lines()).toContain("after");
  });
});
