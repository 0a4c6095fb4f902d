import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { gapsBetween, loggedAt, ProcessPool, timeBetween, waitForCount } from "../src/testing/index.ts";

const labDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

const at = (iso: string, msg = "tick") => ({ time: iso, msg });

describe("fault-test helpers", () => {
  it("read times from log records and measure the gaps between them", () => {
    const entries = [at("2026-11-24T00:00:00.000Z"), at("2026-11-24T00:00:01.000Z"), at("2026-11-24T00:00:03.000Z", "done")];
    expect(loggedAt(entries[0] as never)).toBe(Date.UTC(2026, 10, 24));
    expect(gapsBetween(entries)).toEqual([1000, 2000]);
    expect(timeBetween(entries, "tick", "done")).toBe(3000);
    expect(timeBetween(entries, "done", "tick")).toBeUndefined();
    expect(() => loggedAt({ msg: "no time" })).toThrow(/without a time/);
  });

  it("wait for a number of matching lines from a real process", async () => {
    const p = procs.start({ labDir, cmd: "cmd/role.ts", name: "role" });
    const lines = await waitForCount(p, (e) => typeof e.msg === "string", 1, 15_000);
    expect(lines[0]?.msg).toBe("ready");
    await expect(waitForCount(p, "ready", 2, 100)).rejects.toThrow(/timed out/);
  });
});
