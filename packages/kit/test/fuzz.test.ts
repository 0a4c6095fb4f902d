import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { freeTcpEndpoint, fuzzRole, ProcessPool, withDeadline } from "../src/testing/index.ts";

const labDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const pool = new ProcessPool();
afterEach(() => pool.stopAll());

async function ping(endpoint: string): Promise<void> {
  const dealer = new Dealer({ linger: 0 });
  dealer.connect(endpoint);
  try {
    await dealer.send("ping");
    const [reply] = await withDeadline(dealer.receive(), 5000, "pong");
    if (String(reply) !== "pong") throw new Error(`answered ${String(reply)}`);
  } finally {
    dealer.close();
  }
}

describe("fuzzRole", () => {
  it("sends at least 1,000 hostile messages of many kinds to a robust role, which still answers", async () => {
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts" });
    const { endpoint } = (await role.waitForLog("listening", 10_000)) as { endpoint: string };
    const report = await fuzzRole(role, {
      endpoint,
      peer: "dealer",
      maxRssMiB: 300,
      maxMessageBytes: 64 * 1024,
      probe: () => ping(endpoint),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(Object.keys(report.kinds).length).toBeGreaterThanOrEqual(8);
    expect(report.kinds["over-limit"]).toBeGreaterThan(0);
  });

  it("fails, naming the death, when one message kills the role", async () => {
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts", args: ["--fragile"] });
    const { endpoint } = (await role.waitForLog("listening", 10_000)) as { endpoint: string };
    await expect(fuzzRole(role, { endpoint, peer: "dealer", maxRssMiB: 300, probe: () => ping(endpoint) })).rejects.toThrow(
      /the process died|no longer serves/,
    );
  });

  it("fails when the role grows past its memory bound", async () => {
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts" });
    const { endpoint } = (await role.waitForLog("listening", 10_000)) as { endpoint: string };
    await expect(fuzzRole(role, { endpoint, peer: "dealer", maxRssMiB: 1, probe: () => ping(endpoint) })).rejects.toThrow(
      /over its bound of 1 MiB/,
    );
  });

  it("a role's UsageError is one line on stderr and exit code 2, with no stack trace", async () => {
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts", args: ["--missing"] });
    expect(await role.exited).toEqual({ code: 2, signal: null });
    expect(role.lines).toEqual(["fuzz-target: no such file: samples/x.bin"]);
  });

  it("fuzzes a role that connects, by binding, and requires it to connect again after a message over its limit", async () => {
    const fuzzer = await freeTcpEndpoint();
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts", args: ["--connect", fuzzer, "--reconnect"] });
    const { endpoint } = (await role.waitForLog("listening", 10_000)) as { endpoint: string };
    const options = { endpoint: fuzzer, bind: true, peer: "dealer" as const, maxMessageBytes: 64 * 1024, maxRssMiB: 300 };
    const report = await fuzzRole(role, { ...options, probe: () => ping(endpoint) });
    expect(report.kinds["over-limit"]).toBeGreaterThan(0);
    // One per message over the limit; none when the fuzzer itself goes away (libzmq retries that one).
    expect(role.find("connection dropped (a message over the limit?); connecting again").length).toBe(report.kinds["over-limit"]);
  });

  it("fails when a role that connects stays cut off after a message over its limit", async () => {
    const fuzzer = await freeTcpEndpoint();
    const role = pool.start({ labDir, cmd: "cmd/fuzz-target.ts", args: ["--connect", fuzzer] });
    const { endpoint } = (await role.waitForLog("listening", 10_000)) as { endpoint: string };
    const options = { endpoint: fuzzer, bind: true, peer: "dealer" as const, maxMessageBytes: 64 * 1024, maxRssMiB: 300 };
    await expect(fuzzRole(role, { ...options, probe: () => ping(endpoint) })).rejects.toThrow(
      /to connect again after a message over its limit/,
    );
  });
});
