// The orchestrator with real child processes (the fixture role), as a demo runs them.
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { KeyController } from "../src/keys.ts";
import { type LabManifest, type RoleSpec, readManifest } from "../src/manifest.ts";
import { Orchestrator } from "../src/orchestrator.ts";
import { isProcessAlive, waitUntil } from "../src/testing/index.ts";

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
    await d.waitFor(/worker-1 DIED \(signal SIGKILL\); the other roles keep running/);
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
    expect(d.saw(/stubborn ended \(signal SIGKILL; stopped\)/)).toBeDefined();
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    expect(await d.finished).toBe(0);
  });

  it("kills a role with SIGKILL on request and restarts it under the same name", async () => {
    const d = demo(lab({ server: {}, worker: {} }));
    await d.waitFor(/"msg":"ready"/, 2);
    const before = d.orchestrator.list().find((i) => i.name === "worker")?.pid as number;
    expect(d.orchestrator.kill("worker")).toBe(true);
    await d.waitFor(/worker ended \(signal SIGKILL; killed with SIGKILL on request\)/);
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

  it("adds one more instance of a role", async () => {
    const d = demo(lab({ worker: { count: 2, args: ["--exit-after", "60000", "--code", "{n}"] } }));
    await d.waitFor(/"msg":"ready"/, 2);
    expect(d.orchestrator.add("worker")).toBe("worker-3");
    expect(d.orchestrator.add("nope")).toBeUndefined();
    await d.waitFor(/^worker-3 +\| .*"msg":"ready"/);
    expect(d.orchestrator.list().map((i) => i.name)).toEqual(["worker-1", "worker-2", "worker-3"]);
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
