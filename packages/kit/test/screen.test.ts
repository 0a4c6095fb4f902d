// The demo screen on a fake terminal: views on top, events as human lines, prompt and help pinned.
import { describe, expect, it } from "vitest";
import { DemoScreen, parseLogLine } from "../src/screen.ts";
import { waitUntil } from "../src/testing/index.ts";
import { FakeTerminal } from "./vt.ts";

const record = (fields: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: "2026-12-01T09:00:01.250Z", pid: 1, lab: "lab06", role: "broker", ...fields });

function shown(term: FakeTerminal, text: string): Promise<string[]> {
  return waitUntil(() => (term.text().includes(text) ? term.lines() : undefined), {
    timeoutMs: 5000,
    what: `"${text}" on the screen\n${term.text()}`,
  });
}

describe("a pino JSON line on the demo screen", () => {
  it("becomes time, level, message and key=value pairs", () => {
    const e = parseLogLine(
      record({ msg: "engine ready", engine: "fast-1", jobs: 3, note: "two words", err: { type: "Error", message: "boom", stack: "..." } }),
    );
    expect(e).toMatchObject({ level: "INFO", msg: "engine ready", fields: 'engine=fast-1 jobs=3 note="two words" err="boom"' });
    expect(e.time).toMatch(/^\d\d:\d\d:01\.250$/);
    expect(parseLogLine(record({ level: 50, msg: "x" })).level).toBe("ERROR");
    expect(parseLogLine(record({ msg: "x", value: 5.963623256830466, big: 119.30027932758334, n: 12345678 })).fields).toBe(
      "value=5.964 big=119.3 n=12345678",
    );
  });

  it("keeps any other line as text", () => {
    expect(parseLogLine("(node:12) MaxListenersExceededWarning: ...")).toMatchObject({
      level: "",
      msg: "(node:12) MaxListenersExceededWarning: ...",
    });
    expect(parseLogLine("{not json").msg).toBe("{not json");
  });
});

describe("the demo screen", () => {
  it("draws the views above the events, with the prompt and the key help in the last lines", async () => {
    const term = new FakeTerminal(70, 16);
    const screen = new DemoScreen(term, { header: "lab06: Scalable malware scanning" });
    screen.setInstances(["scanner-broker", "fast-engine-1"]);
    screen.setHelp("keys: l list · k kill");
    screen.start();
    screen.setView("scanner-broker", { title: "engines: 1 idle", columns: ["ENGINE", "JOBS"], rows: [["fast-engine-1", 4]] });
    for (let i = 1; i <= 30; i++) screen.log("fast-engine-1", 33, record({ msg: `scanned ${i}`, file: `f${i}.bin` }));
    screen.setPrompt("kill which? 1) scanner-broker (running)  2) fast-engine-1 (running)  (number; Esc cancels)");
    const lines = await shown(term, "scanned 30");
    expect(lines[0]).toBe("lab06: Scalable malware scanning");
    expect(lines.slice(1, 4)).toEqual(["scanner-broker: engines: 1 idle", "ENGINE         JOBS", "fast-engine-1  4"]);
    expect(lines[4]).toMatch(/^── events ─+$/);
    expect(lines[5]).toMatch(/^\d\d:\d\d:01\.250 fast-engine-1 {2}INFO {2}scanned \d+ file=f\d+\.bin$/);
    // The newest event is just above the prompt, which wraps and stays in view under the log.
    expect(lines.slice(-4)).toEqual([
      expect.stringMatching(/INFO {2}scanned 30 file=f30\.bin$/),
      "kill which? 1) scanner-broker (running)  2) fast-engine-1 (running)",
      "(number; Esc cancels)",
      "keys: l list · k kill",
    ]);
    expect(term.text()).toBe(screen.snapshot());
    // More events do not push the prompt away.
    for (let i = 31; i <= 60; i++) screen.log("fast-engine-1", 33, record({ msg: `scanned ${i}` }));
    const later = await shown(term, "scanned 60");
    expect(later.at(-3)).toBe("kill which? 1) scanner-broker (running)  2) fast-engine-1 (running)");
    screen.setPrompt(undefined);
    await waitUntil(() => !term.text().includes("kill which?"), { timeoutMs: 5000, what: "the prompt gone" });
    screen.close();
  });

  it("marks the view of an instance that ended, and shortens views to leave room for the events", async () => {
    const term = new FakeTerminal(60, 14);
    const screen = new DemoScreen(term);
    screen.setInstances(["a", "b"]);
    screen.start();
    const rows = Array.from({ length: 30 }, (_, i) => [`row${i}`]);
    screen.setView("a", { title: "big", rows });
    screen.setView("b", { title: "small", rows: [["x"]] });
    screen.noteView("b", "killed by SIGKILL");
    screen.log("a", 36, "plain text line");
    const lines = await shown(term, "plain text line");
    expect(lines).toContain("b: small (killed by SIGKILL; last view)");
    expect(lines.some((l) => /^… \d+ more rows$/.test(l))).toBe(true);
    const rule = lines.findIndex((l) => l.startsWith("── events"));
    expect(lines.length - 1 - rule).toBeGreaterThanOrEqual(6);
    screen.close();
  });

  it("shows as many views' titles as fit when there are more views than lines", async () => {
    const term = new FakeTerminal(60, 12);
    const screen = new DemoScreen(term, { header: "hdr" });
    const names = Array.from({ length: 20 }, (_, i) => `w${i + 1}`);
    screen.setInstances(names);
    screen.setHelp("help line");
    screen.start();
    for (const n of names) screen.setView(n, { title: `view of ${n}`, rows: [["a"], ["b"]] });
    const lines = await shown(term, "view of w1");
    // 12 rows: the header, the help, the rule and 6 event lines leave 3 for the views.
    expect(lines.slice(0, 4)).toEqual(["hdr", "w1: view of w1", "w2: view of w2", "w3: view of w3"]);
    expect(lines[4]).toMatch(/^── events/);
    expect(lines.at(-1)).toBe("help line");
    screen.close();
  });

  it("counts an event repeated right after itself instead of printing it again", async () => {
    const term = new FakeTerminal(80, 12);
    const screen = new DemoScreen(term);
    screen.start();
    for (let i = 0; i < 29; i++) screen.log("client", 36, record({ level: 40, msg: "no archive reply within the TTL" }));
    screen.log("client", 36, record({ msg: "done" }));
    const lines = await shown(term, "done");
    const repeated = lines.filter((l) => l.includes("no archive reply"));
    expect(repeated).toHaveLength(1);
    expect(repeated[0]).toMatch(/WARN {2}no archive reply within the TTL ×29$/);
    screen.close();
  });

  it("redraws everything at the new size when the terminal is resized, and gives the terminal back at the end", async () => {
    const term = new FakeTerminal(60, 12);
    const screen = new DemoScreen(term, { header: "hdr" });
    screen.setHelp("help line");
    screen.start();
    screen.log("a", 36, record({ msg: "first" }));
    await shown(term, "first");
    term.resize(40, 10);
    const lines = await shown(term, "help line");
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe("hdr");
    expect(lines[9]).toBe("help line");
    screen.close();
    expect(term.raw.endsWith("INFO  first\n")).toBe(true);
  });
});
