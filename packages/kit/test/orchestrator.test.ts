// The orchestrator with real child processes (the fixture role), as a demo runs them.
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { KEY_HELP, KeyController } from "../src/keys.ts";
import { type LabManifest, type RoleSpec, readManifest } from "../src/manifest.ts";
import { Orchestrator } from "../src/orchestrator.ts";
import { DemoScreen } from "../src/screen.ts";
import { isProcessAlive, waitUntil } from "../src/testing/index.ts";
import { FakeTerminal } from "./vt.ts";

const fixtureDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const WAIT_MS = 15_000;
const GRACE_MS = 1000;

function lab(roles: Record<string, Partial<RoleSpec>>): LabManifest {
  const base = readManifest(fixtureDir);
  return { ...base, roles: Object.fromEntries(Object.entries(roles).map(([name, r]) => [name, { cmd: "cmd/role.ts", ...r }])) };
}

/** An orchestrator whose output is kept as lines, so a test can wait for what the reader would see. */
class Demo {
  readonly lines: string[] = [];
  readonly orchestrator: Orchestrator;
  finished: Promise<number> | undefined;

  constructor(manifest: LabManifest) {
    const out = new PassThrough();
    let partial = "";
    out.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop() ?? "";
      this.lines.push(...parts);
    });
    this.orchestrator = new Orchestrator(manifest, { out, graceMs: GRACE_MS, childLogFormat: "json" });
  }

  start(): this {
    this.finished = this.orchestrator.start();
    return this;
  }

  saw(pattern: RegExp): string | undefined {
    return this.lines.find((l) => pattern.test(l));
  }

  waitFor(pattern: RegExp, count = 1): Promise<string[]> {
    return waitUntil(
      () => {
        const hits = this.lines.filter((l) => pattern.test(l));
        return hits.length >= count ? hits : undefined;
      },
      { timeoutMs: WAIT_MS, what: `${count} line(s) ${pattern}\n${this.lines.slice(-20).join("\n")}` },
    );
  }

  pids(): number[] {
    return this.orchestrator.list().flatMap((i) => (i.pid !== undefined ? [i.pid] : []));
  }
}

const demos: Demo[] = [];
function demo(manifest: LabManifest): Demo {
  const d = new Demo(manifest);
  demos.push(d);
  return d.start();
}
afterEach(async () => {
  for (const d of demos.splice(0)) {
    await d.orchestrator.stop("test over");
    for (const pid of d.pids()) expect(isProcessAlive(pid), `pid ${pid} left behind`).toBe(false);
  }
});

describe("the orchestrator", () => {
  it("prefixes every line with the instance name, aligned, and numbers the instances of a role", async () => {
    const d = demo(lab({ server: {}, worker: { count: 2 } }));
    await d.waitFor(/"msg":"ready"/, 3);
    for (const name of ["server", "worker-1", "worker-2"]) expect(d.saw(new RegExp(`^${name} +\\| \\{.*"msg":"ready"`))).toBeDefined();
    const prefixes = d.lines.map((l) => l.indexOf(" | ")).filter((i) => i >= 0);
    expect(new Set(prefixes).size).toBe(1);
  });

  it("ends with the main role's exit code and stops the other roles", async () => {
    const d = demo(lab({ server: {}, client: { main: true, args: ["--exit-after", "1500", "--code", "3"] } }));
    expect(await d.finished).toBe(3);
    expect(d.saw(/client finished \(exit code 3\)/)).toBeDefined();
    expect(d.saw(/all roles stopped/)).toBeDefined();
    expect(d.orchestrator.list().every((i) => i.state === "exited")).toBe(true);
  });

  it("reports a role that dies, with its exit code or signal, and keeps the rest running", async () => {
    const d = demo(lab({ server: {}, worker: { count: 2 } }));
    await d.waitFor(/"msg":"ready"/, 3);
    const victim = d.orchestrator.list().find((i) => i.name === "worker-1");
    process.kill(victim?.pid as number, "SIGKILL"); // a crash from outside, not a request
    await d.waitFor(/worker-1 DIED \(killed by SIGKILL\); the other roles keep running/);
    const states = Object.fromEntries(d.orchestrator.list().map((i) => [i.name, i.state]));
    expect(states).toEqual({ server: "running", "worker-1": "exited", "worker-2": "running" });
  });

  it("reports a role that exits on an error with its exit code", async () => {
    const d = demo(lab({ server: {}, worker: { args: ["--crash"] } }));
    await d.waitFor(/worker DIED \(exit code 1\)/);
    expect(d.orchestrator.list().find((i) => i.name === "server")?.state).toBe("running");
  });

  it("SIGKILLs a child that ignores SIGTERM after the grace period, leaving no process behind", async () => {
    const d = demo(lab({ stubborn: { args: ["--ignore-stop"] }, server: {} }));
    await d.waitFor(/"msg":"ready"/, 2);
    const pids = d.pids();
    await d.orchestrator.stop("test");
    expect(d.saw(/stubborn did not stop within 1000 ms: SIGKILL/)).toBeDefined();
    expect(d.saw(/stubborn killed by SIGKILL \(stopped\)/)).toBeDefined();
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    expect(await d.finished).toBe(0);
  });

  it("kills a role with SIGKILL on request and restarts it under the same name", async () => {
    const d = demo(lab({ server: {}, worker: {} }));
    await d.waitFor(/"msg":"ready"/, 2);
    const before = d.orchestrator.list().find((i) => i.name === "worker")?.pid as number;
    expect(d.orchestrator.kill("worker")).toBe(true);
    await d.waitFor(/worker killed by SIGKILL \(on request\)/);
    expect(d.orchestrator.list().find((i) => i.name === "worker")?.status).toBe("killed by SIGKILL");
    expect(d.saw(/DIED/)).toBeUndefined();
    expect(await d.orchestrator.restart("worker")).toBe(true);
    await d.waitFor(/^worker +\| .*"msg":"ready"/, 2);
    const after = d.orchestrator.list().find((i) => i.name === "worker");
    expect(after).toMatchObject({ state: "running", restarts: 1 });
    expect(after?.pid).not.toBe(before);
    expect(isProcessAlive(before)).toBe(false);
  });

  it("reports a role that finishes by itself with exit code 0 as finished, not dead", async () => {
    const d = demo(lab({ server: {}, worker: { args: ["--exit-after", "10"] } }));
    await d.waitFor(/worker finished \(exit code 0\); the other roles keep running/);
    expect(d.saw(/DIED/)).toBeUndefined();
  });

  it("adds one more instance of a scalable role, with the lowest free number, up to its max", async () => {
    const d = demo(lab({ server: {}, worker: { count: 2, scalable: true, max: 3, args: ["--exit-after", "60000", "--code", "{n}"] } }));
    await d.waitFor(/"msg":"ready"/, 3);
    expect(d.orchestrator.scalableRoles()).toEqual(["worker"]);
    expect(d.orchestrator.add("worker")).toBe("worker-3");
    expect(d.orchestrator.add("nope")).toBeUndefined();
    expect(d.orchestrator.add("server")).toBeUndefined();
    expect(d.saw(/server runs once only/)).toBeDefined();
    await d.waitFor(/^worker-3 +\| .*"msg":"ready"/);
    expect(d.orchestrator.add("worker")).toBeUndefined();
    expect(d.saw(/worker already runs 3 instances, its most \("max": 3/)).toBeDefined();
    // A killed instance frees its number (its port): the next add takes it again.
    d.orchestrator.kill("worker-2");
    await d.waitFor(/worker-2 killed by SIGKILL/);
    expect(d.orchestrator.add("worker")).toBe("worker-2");
    await d.waitFor(/^worker-2 +\| .*"msg":"ready"/, 2);
    expect(d.orchestrator.list().map((i) => `${i.name} ${i.state}`)).toEqual([
      "server running",
      "worker-1 running",
      "worker-2 running",
      "worker-3 running",
    ]);
  });

  it("passes the lab folder as the folder relative paths resolve against", async () => {
    const d = demo(lab({ server: { args: ["--path", "data/x"] } }));
    const [line] = await d.waitFor(/"msg":"ready"/);
    expect(JSON.parse(line?.slice(line.indexOf("{")) ?? "{}").path).toBe(`${fixtureDir}/data/x`);
  });

  it("stops everything on Ctrl-C from the keyboard", async () => {
    const d = demo(lab({ server: {}, worker: { count: 2 } }));
    await d.waitFor(/"msg":"ready"/, 3);
    const pids = d.pids();
    new KeyController(d.orchestrator).press("\u0003");
    expect(await d.finished).toBe(0);
    expect(d.saw(/stopping \(Ctrl-C\)/)).toBeDefined();
    expect(d.lines.filter((l) => l.includes('"msg":"bye"'))).toHaveLength(3);
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
  });
});

describe("the orchestrator on a terminal", () => {
  /** A demo drawing on a fake terminal, with the keys a person would press. */
  function screenDemo(manifest: LabManifest, columns = 100, rows = 30) {
    const term = new FakeTerminal(columns, rows);
    const screen = new DemoScreen(term);
    screen.setHelp(`keys: ${KEY_HELP}`);
    const orchestrator = new Orchestrator(manifest, { screen, graceMs: GRACE_MS });
    const keys = new KeyController(orchestrator);
    screen.start();
    const finished = orchestrator.start();
    const d = { orchestrator, pids: () => orchestrator.list().flatMap((i) => (i.pid !== undefined ? [i.pid] : [])) } as unknown as Demo;
    demos.push(d);
    const shows = (pattern: RegExp, what = String(pattern)) =>
      waitUntil(() => (pattern.test(term.text()) ? term.lines() : undefined), {
        timeoutMs: WAIT_MS,
        what: `${what} on the screen\n${term.text()}`,
      });
    return { term, screen, orchestrator, keys, finished, shows };
  }

  it("draws each role's live view (sent over IPC) above the events, one human line each", async () => {
    const s = screenDemo(lab({ server: { args: ["--view"] }, worker: { count: 2 } }));
    const lines = await s.shows(/server: counting \(server\)\n.*\nticks +[1-9]/, "the server's view");
    const title = lines.indexOf("server: counting (server)");
    expect(lines[title + 1]).toBe("WHAT   COUNT");
    expect(lines[title + 3]).toBe("a fixture's view");
    await s.shows(/worker-2 +INFO {2}ready\n/);
    // The view updates in place: the counter goes up, the view stays on the same line.
    const first = Number(/ticks +(\d+)/.exec(s.term.text())?.[1]);
    const again = await s.shows(new RegExp(`ticks +(?!${first}\\b)\\d+`), "a newer count");
    expect(again.indexOf("server: counting (server)")).toBe(title);
    // The children logged JSON, the screen shows no JSON and no raw escape codes.
    expect(s.term.text()).not.toContain('{"level"');
    expect(s.term.lines().at(-1)).toBe(`keys: ${KEY_HELP}`);
  });

  it("keeps the kill prompt in view until answered, then shows killed by SIGKILL on the view and in the events", async () => {
    const s = screenDemo(lab({ server: { args: ["--view"] }, worker: {} }));
    await s.shows(/ticks/);
    s.keys.press("k");
    const prompt = await s.shows(/kill which\?/);
    expect(prompt.at(-2)).toBe("kill which? 1) server (running)  2) worker (running)  (number; Esc cancels)");
    s.keys.press("1");
    const after = await s.shows(/server killed by SIGKILL \(on request\)/);
    expect(after.join("\n")).not.toContain("kill which?");
    await s.shows(/server: counting \(server\) \(killed by SIGKILL; last view\)/);
    s.keys.press("k");
    await s.shows(/1\) server \(killed by SIGKILL\)/);
    s.keys.press("\u001b");
    s.keys.press("q");
    expect(await s.finished).toBe(0);
    await s.shows(/all roles stopped/);
    s.screen.close();
  });
});
