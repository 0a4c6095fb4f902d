// The test helpers the labs' fault tests stand on.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Pull, Push } from "zeromq";
import { SendQueue } from "../src/send-queue.ts";
import {
  ANY_LOOPBACK_TCP,
  DeadlineError,
  freeTcpEndpoints,
  hasPyzmq,
  ProcessPool,
  PythonPeer,
  SocketJar,
  Tasks,
  testLogger,
  waitUntil,
  withDeadline,
} from "../src/testing/index.ts";

const PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range";

const labDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const procs = new ProcessPool();
const jar = new SocketJar();
afterEach(async () => {
  jar.closeAll();
  await procs.stopAll();
});

describe("deadlines", () => {
  it("withDeadline passes a value through, or fails naming what it waited for", async () => {
    expect(await withDeadline(Promise.resolve(7), 1000, "seven")).toBe(7);
    await expect(withDeadline(new Promise(() => {}), 20, "a reply")).rejects.toThrow(
      new DeadlineError("timed out after 20 ms waiting for a reply"),
    );
  });

  it("waitUntil re-checks until the condition holds, or fails at the deadline", async () => {
    let n = 0;
    expect(await waitUntil(() => (++n >= 3 ? n : undefined), { timeoutMs: 1000, what: "three", everyMs: 1 })).toBe(3);
    await expect(waitUntil(() => false, { timeoutMs: 20, what: "never" })).rejects.toThrow(DeadlineError);
  });
});

describe("endpoints and sockets", () => {
  it("hands out distinct free loopback endpoints that a socket can bind", async () => {
    const endpoints = await freeTcpEndpoints(3);
    expect(new Set(endpoints).size).toBe(3);
    for (const e of endpoints) expect(e).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const pull = jar.add(new Pull());
    await pull.bind(endpoints[0] as string);
    const push = jar.add(new Push());
    push.connect(endpoints[0] as string);
    await push.send("hi");
    expect((await pull.receive()).toString()).toBe("hi");
  });

  it.skipIf(!existsSync(PORT_RANGE))("picks ports outside the kernel's ephemeral range, which outgoing connections draw from", async () => {
    const [lo, hi] = readFileSync(PORT_RANGE, "utf8").trim().split(/\s+/).map(Number) as [number, number];
    const ports = (await freeTcpEndpoints(50)).map((e) => Number(e.split(":").pop()));
    for (const port of ports) expect(port < lo || port > hi, `port ${port} in ${lo}-${hi}`).toBe(true);
  });

  it("SocketJar closes every socket it holds", async () => {
    const pull = jar.add(new Pull());
    await pull.bind(ANY_LOOPBACK_TCP);
    expect(pull.lastEndpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    jar.closeAll();
    expect(pull.closed).toBe(true);
  });
});

describe("role processes", () => {
  it("waits for a log line by message, by fields, or by predicate", async () => {
    const p = procs.start({ labDir, cmd: "cmd/role.ts", name: "role" });
    const ready = await p.waitForLog("ready", 15_000);
    expect(ready.lab).toBe("demo");
    await p.waitForLog({ msg: "ready", lab: "demo" }, 1000);
    await p.waitForLog((e) => e.msg === "ready" && typeof e.pid === "number", 1000);
    expect(p.find("ready")).toHaveLength(1);
  });

  it("fails a wait at its deadline, showing the process's last lines", async () => {
    const p = procs.start({ labDir, cmd: "cmd/role.ts", name: "role" });
    await p.waitForLog("ready", 15_000);
    const error = await p.waitForLog("never logged", 50).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DeadlineError);
    expect(String(error)).toMatch(/role: timed out after 50 ms waiting for log line never logged\n.*"msg":"ready"/);
  });

  it("fails a wait at once when the process exits without the line", async () => {
    const p = procs.start({ labDir, cmd: "cmd/role.ts", args: ["--exit-after", "10"], name: "brief" });
    await expect(p.waitForLog("never logged", 15_000)).rejects.toThrow(/brief exited \(\{"code":0,"signal":null\}\) before/);
  });

  it("crashes a process with SIGKILL and measures the time to a recovery", async () => {
    const [a, b] = procs.startMany(2, (i) => ({ labDir, cmd: "cmd/role.ts", name: `role-${i}` }));
    if (!a || !b) throw new Error("two processes expected");
    await Promise.all([a.waitForLog("ready", 15_000), b.waitForLog("ready", 15_000)]);
    const ms = await procs.recoveryTime(
      () => procs.crash(a),
      () => b.waitForLog("ready", 1000),
    );
    expect(await a.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(a.running).toBe(false);
    expect(ms).toBeGreaterThanOrEqual(0);
    await procs.stopAll();
    expect(await b.exited).toEqual({ code: 0, signal: null });
  });
});

describe.skipIf(!hasPyzmq())("a Python peer", () => {
  it("runs an inline pyzmq script and reads its lines with a deadline", async () => {
    const peer = new PythonPeer("import sys, zmq; print(zmq.zmq_version()); print(sys.argv[1])", ["hello"]);
    try {
      expect(await peer.nextLine("the libzmq version")).toMatch(/^\d+\.\d+\.\d+$/);
      expect(await peer.nextLine("the argument")).toBe("hello");
      await expect(peer.nextLine("a third line")).rejects.toThrow("python ended before a third line");
    } finally {
      peer.kill();
    }
  });
});

describe("the send queue", () => {
  it("never has two sends in flight on one socket, keeps their order, and survives a failure", async () => {
    let inFlight = 0;
    const sent: string[] = [];
    const socket = {
      async send(m: Buffer | string | (Buffer | string)[]) {
        if (inFlight > 0) throw new Error("EBUSY");
        inFlight += 1;
        await new Promise((r) => setTimeout(r, 2));
        inFlight -= 1;
        if (m === "bad") throw new Error("refused");
        sent.push(String(m));
      },
    };
    const queue = new SendQueue(socket);
    const results = await Promise.allSettled(["a", "bad", "b", "c"].map((m) => queue.send(m)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(sent).toEqual(["a", "b", "c"]);
  });
});

describe("in-process tasks", () => {
  it("run with their own signal and stop together", async () => {
    const tasks = new Tasks();
    const aborted: string[] = [];
    const task = (name: string) => (signal: AbortSignal) =>
      new Promise<string>((resolve) => signal.addEventListener("abort", () => resolve(aborted[aborted.push(name) - 1] as string)));
    const a = tasks.run(task("a"));
    tasks.run(task("b"));
    tasks.run(() => Promise.reject(new Error("failed on its own")));
    await tasks.stopAll();
    expect(await a).toBe("a");
    expect(aborted.sort()).toEqual(["a", "b"]);
    expect(testLogger("lab99").level).toBe(process.env.TEST_LOG_LEVEL ?? "silent");
  });
});
