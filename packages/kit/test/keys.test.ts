import { describe, expect, it } from "vitest";
import { type DemoControls, KEY_HELP, KeyController } from "../src/keys.ts";
import type { InstanceInfo } from "../src/orchestrator.ts";

/** A demo that records what the keyboard asked of it. */
function fakeDemo(names: string[], roles: string[]) {
  const calls: string[] = [];
  const said: string[] = [];
  const prompts: (string | undefined)[] = [];
  const list = (): InstanceInfo[] =>
    names.map((name, i) => ({
      name,
      role: name.replace(/-\d+$/, ""),
      pid: 100 + i,
      state: name.endsWith("-dead") ? "exited" : "running",
      ended: name.endsWith("-dead") ? "killed by SIGKILL" : undefined,
      status: name.endsWith("-dead") ? "killed by SIGKILL" : "running",
      restarts: 0,
    }));
  const demo: DemoControls = {
    list,
    scalableRoles: () => roles,
    prompt: (text) => void prompts.push(text),
    kill: (name) => {
      calls.push(`kill ${name}`);
      return true;
    },
    restart: async (name) => {
      calls.push(`restart ${name}`);
      return true;
    },
    add: (role) => {
      calls.push(`add ${role}`);
      return `${role}-9`;
    },
    stop: async (reason) => void calls.push(`stop ${reason}`),
    say: (m) => void said.push(m),
  };
  return { demo, calls, said, prompts };
}

function press(keys: KeyController, sequence: string[]): void {
  for (const k of sequence) keys.press(k);
}

describe("the demo keyboard", () => {
  it("lists the running instances with their pids", () => {
    const { demo, said } = fakeDemo(["broker", "worker-1"], ["broker", "worker"]);
    new KeyController(demo).press("l");
    expect(said).toEqual(["1) broker: running pid 100", "2) worker-1: running pid 101"]);
  });

  it("kills, restarts and adds by the number shown in the menu, which stays up until answered", () => {
    const { demo, calls, said, prompts } = fakeDemo(["broker", "worker-1", "worker-2"], ["broker", "worker"]);
    const keys = new KeyController(demo);
    press(keys, ["k", "2", "r", "3", "a", "2"]);
    expect(calls).toEqual(["kill worker-1", "restart worker-2", "add worker"]);
    expect(prompts[0]).toBe("kill which? 1) broker (running)  2) worker-1 (running)  3) worker-2 (running)  (number; Esc cancels)");
    expect(prompts[1]).toBeUndefined();
    expect(prompts).toHaveLength(6);
    expect(said).toContain("sent SIGKILL to worker-1");
    expect(said).toContain("started worker-9");
  });

  it("shows how an instance ended in the menu: killed by a signal, not just exited", () => {
    const { demo, prompts } = fakeDemo(["broker", "worker-dead"], ["worker"]);
    new KeyController(demo).press("r");
    expect(prompts[0]).toContain("2) worker-dead (killed by SIGKILL)");
  });

  it("offers to add only the roles that can run more than once", () => {
    const { demo, calls, said, prompts } = fakeDemo(["broker", "worker"], ["worker"]);
    const keys = new KeyController(demo);
    press(keys, ["a"]);
    expect(prompts[0]).toBe("add which? 1) worker  (number; Esc cancels)");
    press(keys, ["1"]);
    expect(calls).toEqual(["add worker"]);
    const none = fakeDemo(["broker"], []);
    new KeyController(none.demo).press("a");
    expect(none.prompts).toEqual([]);
    expect(none.said).toEqual(["no role of this lab can run more than once (none is marked scalable)"]);
    expect(said).toContain("started worker-9");
  });

  it("takes several digits and Enter when there are more than nine choices", () => {
    const names = Array.from({ length: 12 }, (_, i) => `worker-${i + 1}`);
    const { demo, calls } = fakeDemo(names, ["worker"]);
    const keys = new KeyController(demo);
    press(keys, ["k", "1", "1"]);
    press(keys, ["k", "0", "7"]);
    expect(calls).toEqual(["kill worker-11", "kill worker-7"]);
  });

  it("on a long menu, runs a number no further digit could extend, and a command key settles the number typed", () => {
    const names = Array.from({ length: 12 }, (_, i) => `worker-${i + 1}`);
    const { demo, calls } = fakeDemo(names, ["worker"]);
    const keys = new KeyController(demo);
    press(keys, ["k", "3"]);
    press(keys, ["k", "1", "k", "2"]);
    expect(calls).toEqual(["kill worker-3", "kill worker-1", "kill worker-2"]);
  });

  it("cancels with Esc, rejects a number out of range, and ignores other keys", () => {
    const { demo, calls, said } = fakeDemo(["broker"], ["broker"]);
    const keys = new KeyController(demo);
    press(keys, ["k", "\u001b", "x", "k", "5"]);
    expect(calls).toEqual([]);
    expect(said).toContain("cancelled");
    expect(said).toContain("no choice 5");
  });

  it("stops on q and on Ctrl-C, even in the middle of a menu; h prints the help", () => {
    const { demo, calls, said } = fakeDemo(["broker"], ["broker"]);
    const keys = new KeyController(demo);
    press(keys, ["h", "q", "k", "\u0003"]);
    expect(said[0]).toBe(`keys: ${KEY_HELP}`);
    expect(KEY_HELP).not.toMatch(/^keys/);
    expect(calls).toEqual(["stop q pressed", "stop Ctrl-C"]);
  });

  it("kills everything at once on a second Ctrl-C", () => {
    const { demo, calls } = fakeDemo(["broker"], []);
    const keys = new KeyController({ ...demo, killAll: () => void calls.push("killAll") });
    press(keys, ["\u0003", "\u0003"]);
    expect(calls).toEqual(["stop Ctrl-C", "killAll"]);
  });
});
