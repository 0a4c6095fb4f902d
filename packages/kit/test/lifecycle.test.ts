// runMain through a real process: signals, stdin control, grace period, crashes, bad flags.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { runLoops } from "../src/loops.ts";
import { ProcessPool, waitUntil } from "../src/testing/index.ts";

const labDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const WAIT_MS = 15_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

function role(args: string[] = [], env: Record<string, string> = {}) {
  return procs.start({ labDir, cmd: "cmd/role.ts", args, env, name: "role" });
}

describe("runMain", () => {
  it("turns SIGTERM into an abort: main returns and the process exits 0", async () => {
    const p = role();
    await p.waitForLog("ready", WAIT_MS);
    const exited = p.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(p.find({ msg: "stopping", reason: "SIGTERM" })).toHaveLength(1);
    expect(p.find("bye")).toHaveLength(1);
    expect(p.find("exiting")[0]?.maxRssMiB).toBeGreaterThan(10);
  });

  it("exits 130 at once on a second signal while main is still stopping", async () => {
    const p = role(["--slow-stop", "20000", "--grace", "30000"]);
    await p.waitForLog("ready", WAIT_MS);
    process.kill(p.pid as number, "SIGINT");
    await p.waitForLog("stopping", WAIT_MS);
    process.kill(p.pid as number, "SIGINT");
    expect(await p.exited).toEqual({ code: 130, signal: null });
    expect(p.find("second signal; exiting now")).toHaveLength(1);
  });

  it("exits 1 when main does not return within the grace period", async () => {
    const p = role(["--slow-stop", "20000", "--grace", "300"]);
    await p.waitForLog("ready", WAIT_MS);
    process.kill(p.pid as number, "SIGTERM");
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.find("did not stop within the grace period; exiting")).toHaveLength(1);
    expect(p.find("bye")).toEqual([]);
  });

  it("stops when stdin closes under ZLABS_CONTROL=stdin (how Windows roles are stopped)", async () => {
    const p = role([], { ZLABS_CONTROL: "stdin" });
    await p.waitForLog("ready", WAIT_MS);
    p.stdin?.end();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.find({ msg: "stopping", reason: "stdin closed" })).toHaveLength(1);
  });

  it("returns main's exit code when main finishes by itself", async () => {
    const p = role(["--exit-after", "10", "--code", "4"]);
    expect(await p.exited).toEqual({ code: 4, signal: null });
  });

  it("logs an unhandled error and exits 1", async () => {
    const p = role(["--crash"]);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    const fatal = p.find("unhandled error");
    expect(fatal).toHaveLength(1);
    expect(JSON.stringify(fatal[0])).toContain("boom");
  });

  it("exits 2 with a one-line reason on a bad flag", async () => {
    const p = role(["--exit-after", "soon"]);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual(["role: --exit-after (or DEMO_EXIT_AFTER) must be a number (see --help)"]);
  });
});

describe("runLoops", () => {
  it("closes the sockets on abort, ends the loops, stops the timers, and keeps real errors", async () => {
    const closed: string[] = [];
    const socket = (name: string) => ({
      linger: 0,
      closed: false,
      close() {
        this.closed = true;
        closed.push(name);
      },
    });
    const a = socket("a");
    const controller = new AbortController();
    let ticks = 0;
    const waitForClose = () =>
      new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (a.closed) {
            clearInterval(t);
            reject(new Error("EAGAIN: socket closed under the loop"));
          }
        }, 1);
        void resolve;
      });
    const running = runLoops(controller.signal, { sockets: [a], every: [{ ms: 5, run: () => ticks++ }] }, waitForClose);
    await waitUntil(() => ticks > 0, { timeoutMs: 5000, what: "a tick" });
    controller.abort();
    await running;
    expect(closed[0]).toBe("a");
    const after = ticks;
    expect(after).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 20)); // four periods in which a leaked timer would tick
    expect(ticks).toBe(after);
    await expect(runLoops(new AbortController().signal, { sockets: [] }, () => Promise.reject(new Error("real")))).rejects.toThrow("real");
  });
});
