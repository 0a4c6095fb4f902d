// The real cmd/ processes end to end, and the faults Majordomo exists to survive, with SIGKILL:
// a worker killed mid-request (another worker answers), the broker killed and restarted (workers
// register again on its DISCONNECT, long before their liveness runs out).
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, isProcessAlive, ProcessPool, type RoleProcess, testLogger } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MdpClient } from "../internal/client.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const log = testLogger("lab12");
const procs = new ProcessPool();
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  const pids = procs.all.map((p) => p.pid);
  await procs.stopAll();
  for (const pid of pids) if (pid !== undefined) expect(isProcessAlive(pid)).toBe(false);
});

const broker = (endpoint: string, ...args: string[]) =>
  procs.start({ labDir, cmd: "cmd/majordomo-broker.ts", name: "broker", args: ["--endpoint", endpoint, ...args] });
const worker = (cmd: string, name: string, endpoint: string, ...args: string[]) =>
  procs.start({ labDir, cmd: `cmd/${cmd}.ts`, name, args: ["--broker", endpoint, ...args] });

async function registered(b: RoleProcess, service: string, count: number, from = 0) {
  for (let seen = 0, at = from; seen < count; seen++) {
    const entry = await b.waitForLog({ msg: "worker registered", service }, WAIT_MS, at);
    at = b.logs.indexOf(entry) + 1;
  }
}

describe("the lab's processes", () => {
  it("a client-requester gets echo, hash verdicts and mmi.service answers through the broker, then exits 0", async () => {
    const endpoint = await freeTcpEndpoint();
    const b = broker(endpoint);
    await b.waitForLog("listening", WAIT_MS);
    worker("echo-worker", "echo", endpoint);
    worker("hash-worker", "hash", endpoint);
    await registered(b, "echo", 1);
    await registered(b, "intel.hash", 1);
    const client = procs.start({
      labDir,
      cmd: "cmd/client-requester.ts",
      name: "client",
      args: ["--broker", endpoint, "--count", "12", "--rate", "0"],
    });
    expect(await client.exited).toEqual({ code: 0, signal: null });
    expect(client.find("echo answered")[0]).toMatchObject({ reply: "sync ping 0" });
    expect(client.find({ msg: "intel.hash answered", ask: "275a021bbfb6489e" })[0]?.reply).toMatch(/^malicious · EICAR/);
    expect(client.find({ msg: "mmi.service answered" })[0]).toMatchObject({ reply: "200" });
    expect(client.find("done")[0]).toMatchObject({ sent: 12, replies: 12, errors: 0, timeouts: 0 });
  });

  it("a worker SIGKILLed mid-request: the broker sends the request to another worker, the client never retries", async () => {
    const endpoint = await freeTcpEndpoint();
    const hb = ["--heartbeat", "200"];
    const b = broker(endpoint, ...hb);
    await b.waitForLog("listening", WAIT_MS);
    const workers = [1, 2].map((i) => worker("echo-worker", `echo-${i}`, endpoint, "--delay-ms", "2000", ...hb));
    await registered(b, "echo", 2);
    // One attempt only: the reply can come only from the broker's re-dispatch.
    const client = new MdpClient({ broker: endpoint, timeoutMs: WAIT_MS, retries: 1 }, log);
    closers.push(() => client.close());
    const reply = client.request("echo", [Buffer.from("evidence-42")]);
    const busy = await Promise.race(workers.map((w) => w.waitForLog({ msg: "echo", first: "evidence-42" }, WAIT_MS).then(() => w)));
    const other = workers.find((w) => w !== busy) as RoleProcess;
    await procs.crash(busy);
    expect((await reply).map(String)).toEqual(["evidence-42"]);
    expect(other.find({ msg: "echo", first: "evidence-42" })).toHaveLength(1);
    expect(b.find("request in progress on the dead worker sent again to the next worker")).toHaveLength(1);
    expect(b.find({ msg: "worker removed", busy: true })).toHaveLength(1);
    expect(client.stats).toMatchObject({ replies: 1, retries: 0 });
  });

  it("the broker SIGKILLed and restarted: workers register again on its DISCONNECT, before their liveness runs out", async () => {
    const endpoint = await freeTcpEndpoint();
    // Heartbeats every 500 ms, liveness 60: a worker would give the broker up only after 30 s, longer
    // than a new broker process takes to start on a loaded machine.
    const hb = ["--heartbeat", "500", "--liveness", "60"];
    const first = broker(endpoint, ...hb);
    await first.waitForLog("listening", WAIT_MS);
    const workers = [1, 2].map((i) => worker("echo-worker", `echo-${i}`, endpoint, ...hb));
    worker("hash-worker", "hash", endpoint, ...hb);
    await registered(first, "echo", 2);
    await registered(first, "intel.hash", 1);
    await procs.crash(first);
    const second = broker(endpoint, ...hb);
    await second.waitForLog("listening", WAIT_MS);
    const restartedAt = Date.now();
    // Within the liveness window (30 s): the DISCONNECT path, not the silence path.
    await registered(second, "echo", 2);
    await registered(second, "intel.hash", 1);
    const back = Date.now() - restartedAt;
    expect(back).toBeLessThan(30_000);
    expect(
      second.find({ msg: "protocol violation: DISCONNECT", reason: "HEARTBEAT from a worker that never sent READY" }).length,
    ).toBeGreaterThanOrEqual(3);
    for (const w of workers) {
      expect(w.find("DISCONNECT from the broker: registering again on a new socket")).toHaveLength(1);
      expect(w.find("broker silent: connecting again on a new socket")).toEqual([]);
    }
    const client = new MdpClient({ broker: endpoint, timeoutMs: 5000, retries: 2 }, log);
    closers.push(() => client.close());
    expect(
      (await client.request("intel.hash", [Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")])).map(String),
    ).toEqual(["benign", "the empty file"]);
  });

  it("bad flags: one line and exit 2", async () => {
    const bad = procs.start({ labDir, cmd: "cmd/echo-worker.ts", name: "bad", args: ["--service", "mmi.echo"] });
    expect((await bad.exited).code).toBe(2);
    expect(bad.lines.join("\n")).toMatch(/mmi\. namespace belongs to the broker/);
    const badHash = procs.start({ labDir, cmd: "cmd/client-requester.ts", name: "bad2", args: ["--hashes", "nothex"] });
    expect((await badHash.exited).code).toBe(2);
  });
});
