// End to end: the real node-agent and admin-cli processes, the agent killed with SIGKILL.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

function agent(endpoint: string, extra: string[] = []): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/node-agent.ts", name: "node-agent", args: ["--id", "e2e", "--bind", endpoint, ...extra] });
}

function cli(endpoint: string, args: string[]): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/admin-cli.ts", name: "admin-cli", args: ["--connect", endpoint, ...args] });
}

/** What the CLI printed on stdout: everything that is not a JSON log line (those go to stderr). */
function answer(p: RoleProcess): string[] {
  return p.lines.filter((l) => !l.startsWith('{"level"'));
}

describe("the real processes", () => {
  it("the CLI prints a table, or JSON with --json, and exits 0", async () => {
    const endpoint = await freeTcpEndpoint();
    const a = agent(endpoint);
    await a.waitForLog("listening", WAIT_MS);
    const table = cli(endpoint, ["mem"]);
    expect(await table.exited).toEqual({ code: 0, signal: null });
    expect(answer(table)[0]).toMatch(/^total +\d+\.\d (GiB|MiB)$/);
    const json = cli(endpoint, ["--json", "info"]);
    expect(await json.exited).toEqual({ code: 0, signal: null });
    expect(JSON.parse(answer(json)[0] as string)).toMatchObject({
      agent: "e2e",
      commands: ["ps", "mem", "cpu", "load", "uptime", "disk", "info"],
    });
  });

  it("an unknown command gets the agent's error and exit code 1; the agent serves on", async () => {
    const endpoint = await freeTcpEndpoint();
    const a = agent(endpoint);
    await a.waitForLog("listening", WAIT_MS);
    const bad = cli(endpoint, ["reboot"]);
    expect(await bad.exited).toEqual({ code: 1, signal: null });
    expect(bad.find({ code: "unknown-command" })).toHaveLength(1);
    const good = cli(endpoint, ["--json", "uptime"]);
    expect(await good.exited).toEqual({ code: 0, signal: null });
  });

  it("with no agent, the CLI tries 3 times on fresh sockets, then fails clearly with exit code 3", async () => {
    const endpoint = await freeTcpEndpoint();
    const p = cli(endpoint, ["--timeout", "300", "uptime"]);
    expect(await p.exited).toEqual({ code: 3, signal: null });
    expect(p.find("no reply; retrying").map((e) => e.attempt)).toEqual([1, 2]);
    expect(p.find("no reply; giving up")).toHaveLength(1);
    expect(p.find(`no reply from ${endpoint} to "uptime" after 3 attempts of 300 ms`)).toHaveLength(1);
    expect(answer(p)).toEqual([]);
  });

  it("an agent killed with SIGKILL and restarted while the CLI retries: the CLI gets its answer", async () => {
    const endpoint = await freeTcpEndpoint();
    const first = agent(endpoint);
    await first.waitForLog("listening", WAIT_MS);
    expect(await procs.crash(first)).toEqual({ code: null, signal: "SIGKILL" });
    // 12 attempts of 2 s: the second agent's process starts only after the first retry, and its
    // start on a busy machine may take longer than the default 3 attempts leave.
    const p = cli(endpoint, ["--timeout", "2000", "--retries", "12", "--json", "uptime"]);
    await p.waitForLog("no reply; retrying", WAIT_MS);
    const second = agent(endpoint);
    await second.waitForLog("listening", WAIT_MS);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(JSON.parse(answer(p)[0] as string).agentSec).toBeGreaterThan(0);
    // Another process's output: it may still be on its way when the CLI has exited.
    await second.waitForLog("request served", WAIT_MS);
  });

  it("a chaos agent that crashes itself leaves the CLI to give up after its retries, not hang", async () => {
    const endpoint = await freeTcpEndpoint();
    const a = agent(endpoint, ["--chaos", "--chaos-after", "0", "--crash-chance", "1"]);
    await a.waitForLog("listening", WAIT_MS);
    const p = cli(endpoint, ["--timeout", "300", "load"]);
    expect(await a.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(a.find("chaos: crashing")).toHaveLength(1);
    expect(await p.exited).toEqual({ code: 3, signal: null });
  });

  it("the agent stops cleanly on SIGTERM", async () => {
    const endpoint = await freeTcpEndpoint();
    const a = agent(endpoint);
    await a.waitForLog("listening", WAIT_MS);
    expect(await a.stop()).toEqual({ code: 0, signal: null });
  });

  it.each([
    [["uptime", "--timeout", "soon"], "--timeout (or LAB03_TIMEOUT) must be a number"],
    [["uptime", "--retries", "0"], "--retries (or LAB03_RETRIES) must be at least 1"],
    [["uptime", "--retries", "1.5"], "--retries (or LAB03_RETRIES) must be a whole number"],
    [
      ["uptime", "--connect", "localhost:5030"],
      '--connect (or LAB03_CONNECT) must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555 (got "localhost:5030")',
    ],
    [[], "which command? ps, mem, cpu, load, uptime, disk or info"],
    [["ps", "mem"], "one command at a time, got: ps mem"],
  ])("a bad command line %j exits 2 with one line", async (args, reason) => {
    const p = procs.start({ labDir, cmd: "cmd/admin-cli.ts", name: "admin-cli", args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([`admin-cli: ${reason} (see --help)`]);
  });
});
