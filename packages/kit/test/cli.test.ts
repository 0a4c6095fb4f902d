// The CLI that run.sh, run.ps1 and `pnpm start` all end in, run as a real process.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CATALOG } from "../src/catalog.ts";
import { isProcessAlive, ProcessPool, waitUntil } from "../src/testing/index.ts";

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const fixtureDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

// Every lab of the catalog is in this repository now, so a planned lab is shown from a workspace that has none.
const emptyWorkspace = mkdtempSync(join(tmpdir(), "zlabs-empty-"));
writeFileSync(join(emptyWorkspace, "pnpm-workspace.yaml"), "packages:\n  - labs/*\n");
mkdirSync(join(emptyWorkspace, "labs"));
afterAll(() => rmSync(emptyWorkspace, { recursive: true, force: true }));

function zlabs(args: string[], cwd = fixtureDir) {
  // tsx by its path: a folder outside the repository cannot resolve the bare name.
  const nodeArgs = ["--import", import.meta.resolve("tsx")];
  return procs.start({ labDir: cwd, cmd: cli, args, nodeArgs, name: `zlabs ${args.join(" ")}` });
}

describe("the zlabs CLI", () => {
  it("lists all 24 labs, marking the ones with roles as ready", async () => {
    const p = zlabs(["list"]);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const rows = p.lines.filter((l) => /^lab\d\d /.test(l));
    expect(rows).toHaveLength(CATALOG.length);
    expect(rows[0]).toMatch(/^lab01 +heartbeat +ready +PUB-SUB/);
  });

  it("lists a lab whose folder is missing as planned", async () => {
    const p = zlabs(["list"], emptyWorkspace);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const rows = p.lines.filter((l) => /^lab\d\d /.test(l));
    expect(rows).toHaveLength(CATALOG.length);
    expect(rows.find((r) => r.startsWith("lab10"))).toMatch(/^lab10 +soc-sim +planned/);
  });

  it("prints its usage on help, with the keys said once", async () => {
    const p = zlabs(["help"]);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const text = p.lines.join("\n");
    expect(text).toContain("run.sh labNN ROLE [flags]");
    expect(text).toContain("run.sh clean");
    expect(text).toMatch(/takes keys: l list/);
    expect(text).not.toContain("keys: keys:");
  });

  it("refuses a demo flag it does not know, in one line", async () => {
    const p = zlabs(["start", "--jsn"]);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual(['zlabs: unknown demo flag "--jsn"; the demo takes --json or --snapshot SECONDS (`./run.sh help`)']);
  });

  it("says a planned lab is planned, not unknown", async () => {
    const p = zlabs(["lab10"], emptyWorkspace);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([
      "zlabs: lab10 (SOC simulation: Mixed patterns, discovery) is planned, not in the repository yet; `./run.sh list` shows the ready labs",
    ]);
  });

  it("prints the screen a person would see with --snapshot, then stops the demo", async () => {
    const p = procs.start({ labDir: fixtureDir, cmd: cli, args: ["start", "--snapshot", "2.5"], env: { COLUMNS: "90", LINES: "20" } });
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines[0]).toBe("demo: Orchestrator test fixture · none  4 running");
    expect(p.lines).toContainEqual(expect.stringMatching(/^── events ─+$/));
    // The snapshot is taken at a set time, so only what is there from the start is checked.
    expect(p.lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} zlabs +demo: Orchestrator test fixture · none$/));
    expect(p.lines.at(-1)).toMatch(/^keys: l list/);
    expect(p.lines).toHaveLength(20);
  });

  it("exits 2 with one line on an unknown lab or role", async () => {
    const lab = zlabs(["lab99"]);
    expect(await lab.exited).toEqual({ code: 2, signal: null });
    expect(lab.lines).toEqual(['zlabs: unknown command or lab "lab99"; try `./run.sh list` or `./run.sh help`']);
    const role = zlabs(["lab01", "toaster"]);
    expect(await role.exited).toEqual({ code: 2, signal: null });
    expect(role.lines[0]).toMatch(/^zlabs: lab01 has no role "toaster"; try one of: .*dashboard/);
  });

  it("runs a demo until Ctrl-C (SIGINT), then stops every role and leaves no process behind", async () => {
    const p = zlabs(["start"]);
    const pidsOf = () => p.lines.flatMap((l) => (/\| \{.*"msg":"ready".*/.test(l) ? [Number(/"pid":(\d+)/.exec(l)?.[1])] : []));
    const pids = await waitUntil(() => (pidsOf().length === 4 ? pidsOf() : undefined), { timeoutMs: WAIT_MS, what: "4 roles ready" });
    process.kill(p.pid as number, "SIGINT");
    // The fixture's main role would exit with code 3 after a minute; stopped early, the demo exits 0.
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines).toContain("zlabs    | all roles stopped");
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
  });
});
