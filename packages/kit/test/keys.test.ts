import { describe, expect, it } from "vitest";
import { type DemoControls, KEY_HELP, KeyController } from "../src/keys.ts";
import type { InstanceInfo } from "../src/orchestrator.ts";

/** A demo that records what the keyboard asked of it. */
function fakeDemo(names: string[], roles: string[]) {
  const calls: string[] = [];
  const said: string[] = [];
  const list = (): InstanceInfo[] =>
    names.map((name, i) => ({ name, role: name.replace(/-\d+$/, ""), pid: 100 + i, state: "running", ended: undefined, restarts: 0 }));
  const demo: DemoControls = {
    list,
    roles: () => roles,
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
  return { demo, calls, said };
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

  it("kills, restarts and adds by the number shown in the menu", () => {
    const { demo, calls, said } = fakeDemo(["broker", "worker-1", "worker-2"], ["broker", "worker"]);
    const keys = new KeyController(demo);
    press(keys, ["k", "2", "r", "3", "a", "2"]);
    expect(calls).toEqual(["kill worker-1", "restart worker-2", "add worker"]);
    expect(said[0]).toBe("kill which? 1) broker (running)  2) worker-1 (running)  3) worker-2 (running)  (Esc cancels)");
    expect(said).toContain("sent SIGKILL to worker-1");
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
    expect(said[0]).toBe(KEY_HELP);
    expect(calls).toEqual(["stop q pressed", "stop Ctrl-C"]);
  });
});
