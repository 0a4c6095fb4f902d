// The real processes: the proxy's monitor counting client apps started and killed with SIGKILL,
// proxy-ctl steering it (STATISTICS, PAUSE, RESUME, TERMINATE), the auditor, and bad flags.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess, waitForCount } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseCaptureLine } from "../internal/protocol.ts";
import { tempDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
const tmp = tempDir();
afterEach(() => procs.stopAll());
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function ctl(control: string, ...args: string[]): Promise<RoleProcess> {
  const p = procs.start({ labDir, cmd: "cmd/proxy-ctl.ts", name: `proxy-ctl ${args.join(" ")}`, args: ["--control", control, ...args] });
  await p.exited;
  return p;
}

describe("the real processes", () => {
  it("the monitor counts 4 client apps accepted and 2 disconnected after SIGKILL; proxy-ctl steers; TERMINATE exits 0", async () => {
    const [front, back, control, tap] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const file = join(tmp, "audit.jsonl");
    const broker = procs.start({
      labDir,
      cmd: "cmd/monitored-broker.ts",
      name: "broker",
      args: ["--front", front, "--back", back, "--control", control, "--capture", tap, "--capture-file", file],
    });
    await broker.waitForLog("listening", WAIT_MS);
    procs.start({ labDir, cmd: "cmd/records-service.ts", name: "service", args: ["--id", "svc", "--proxy", back] });
    const auditor = procs.start({ labDir, cmd: "cmd/auditor.ts", name: "auditor", args: ["--tap", tap] });
    await broker.waitForLog("capture tap subscribed", WAIT_MS);
    const clients = procs.startMany(4, (i) => ({
      labDir,
      cmd: "cmd/client-app.ts",
      name: `client-${i}`,
      args: ["--id", `client-${i}`, "--proxy", front, "--rate", "20", "--seed", String(i)],
    }));
    const accepted = await waitForCount(broker, { msg: "peer connected", socket: "front" }, 4, WAIT_MS);
    expect(accepted.map((e) => e.accepted)).toEqual([1, 2, 3, 4]);
    await Promise.all(clients.map((c) => c.waitForLog("record after waiting", 1).catch(() => undefined)));
    await auditor.waitForLog({ msg: "AUDIT lookup", client: "client-3" }, WAIT_MS);

    await procs.crash(clients[0] as RoleProcess);
    await procs.crash(clients[1] as RoleProcess);
    const gone = await waitForCount(broker, { msg: "peer disconnected", socket: "front" }, 2, WAIT_MS);
    expect(gone.map((e) => e.disconnected)).toEqual([1, 2]);
    expect(broker.find({ msg: "peer connected", socket: "front" })).toHaveLength(4);
    expect(broker.find("handshake failed")).toEqual([]);

    const stats = await ctl(control, "STATISTICS", "--json");
    expect(await stats.exited).toEqual({ code: 0, signal: null });
    const counters = JSON.parse(stats.lines.find((l) => l.startsWith('{"front')) ?? "{}");
    expect(counters.frontMsgsIn).toBeGreaterThan(0);
    expect(counters.backMsgsOut).toBeLessThanOrEqual(counters.frontMsgsIn);

    const pause = await ctl(control, "pause");
    expect(pause.lines).toContain("PAUSE: done");
    const paused = broker.logs.length;
    await broker.waitForLog(/^PAUSE/, WAIT_MS);
    // Clients wait; nothing is lost: after RESUME they get every record they asked for.
    await clients[2]?.waitForLog("no record in time; asking again", WAIT_MS, 0).catch(() => undefined);
    expect((await ctl(control, "RESUME")).lines).toContain("RESUME: done");
    await broker.waitForLog(/^RESUME: forwarding again/, WAIT_MS, paused);

    expect((await ctl(control, "TERMINATE")).lines).toContain("TERMINATE: done");
    expect(await broker.exited).toEqual({ code: 0, signal: null });
    expect(broker.find("terminated by the control socket")).toHaveLength(1);
    // Every line of the capture file is a captured message with its direction.
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((l) => parseCaptureLine(l).ok)).toBe(true);
    expect(new Set(lines.map((l) => JSON.parse(l).dir))).toEqual(new Set(["fe>be", "be>fe"]));
  });

  it("a CURVE client against the NULL proxy: its handshakes fail, logged and counted", async () => {
    const [front, back, control, tap] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const broker = procs.start({
      labDir,
      cmd: "cmd/monitored-broker.ts",
      name: "broker",
      args: ["--front", front, "--back", back, "--control", control, "--capture", tap],
    });
    await broker.waitForLog("listening", WAIT_MS);
    procs.start({ labDir, cmd: "cmd/client-app.ts", name: "curve", args: ["--id", "curve", "--proxy", front, "--curve"] });
    const failed = await broker.waitForLog({ msg: "handshake failed", socket: "front" }, WAIT_MS);
    expect(failed.failures).toBe(1);
  });

  it("proxy-ctl with no proxy answering exits 3 after its timeout", async () => {
    const [control] = (await freeTcpEndpoints(1)) as [string];
    const p = await ctl(control, "STATISTICS", "--timeout", "300");
    expect(await p.exited).toEqual({ code: 3, signal: null });
  });
});

describe("bad flags and environment: one line, exit code 2", () => {
  it.each([
    ["cmd/monitored-broker.ts", ["--capture", "nowhere"], {}, /^monitored-broker: --capture must be an endpoint/],
    ["cmd/monitored-broker.ts", ["--max-peers", "0"], {}, /^monitored-broker: --max-peers \(or LAB22_MAX_PEERS\) must be at least 1/],
    ["cmd/monitored-broker.ts", [], { LAB22_FRONT: "bad" }, /^monitored-broker: --front \(or LAB22_FRONT\) must be a ZeroMQ endpoint/],
    [
      "cmd/monitored-broker.ts",
      [],
      { LAB22_CAPTURE_HWM: "1.5" },
      /^monitored-broker: --capture-hwm \(or LAB22_CAPTURE_HWM\) must be a whole number/,
    ],
    ["cmd/proxy-ctl.ts", [], {}, /^proxy-ctl: give one command: PAUSE, RESUME, TERMINATE, STATISTICS/],
    ["cmd/proxy-ctl.ts", ["HALT"], {}, /^proxy-ctl: unknown command "HALT"/],
    ["cmd/client-app.ts", ["--id", "a b"], {}, /^client-app: --id "a b" may hold only letters/],
    ["cmd/records-service.ts", ["--cost-ms", "-1"], {}, /^records-service: --cost-ms \(or LAB22_COST_MS\) must be at least 0/],
  ])("%s %j %j", async (cmd, args, env, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args, env });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(line);
  });

  it("a capture file that cannot be created is one line and exit 2", async () => {
    const [front, back, control] = (await freeTcpEndpoints(3)) as [string, string, string];
    // A path under a file: no folder can be made there.
    writeFileSync(join(tmp, "a-file"), "x");
    const p = procs.start({
      labDir,
      cmd: "cmd/monitored-broker.ts",
      name: "broker",
      args: [
        "--front",
        front,
        "--back",
        back,
        "--control",
        control,
        "--capture",
        "off",
        "--capture-file",
        join(tmp, "a-file", "audit.jsonl"),
      ],
    });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([expect.stringMatching(/^monitored-broker: cannot open the capture file/)]);
  });
});
