// On the wire: the TCP stream between the real server and a real agent, captured (tcpdump on lo, for
// this test's own port; and through a relay of ours that records every byte), holds none of the
// commands, replies or HELLOs in plaintext. The ZMTP greeting's "CURVE" is plaintext by design:
// finding it proves the capture saw this stream.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server, Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, ProcessPool, type RoleProcess, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DemoKeys, freshKeys } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT = 30_000;
/**
 * What a plaintext channel would show: command names, arguments, output, the protocol's words.
 * Not "HELLO": CurveZMQ's own handshake commands (HELLO, WELCOME, INITIATE, READY, MESSAGE) are
 * named in plaintext on the wire; ours travels inside MESSAGE boxes.
 */
const PLAINTEXT = ["status", "rotate-log", "reports", "agent.log", "uptimeS", "entries", "COMMAND", "REPLY", "agent-1"];
const TCPDUMP = spawnSync("tcpdump", ["--version"]).status === 0;

const procs = new ProcessPool();
let keys: DemoKeys;
beforeEach(async () => {
  keys = await freshKeys();
});
afterEach(async () => {
  await procs.stopAll();
  keys.cleanup();
});

/** The server, and agent-1 connected to `connectTo`; resolves once `answers` commands of every kind were answered. */
async function exchange(bind: string, connectTo: string, answers = 8): Promise<RoleProcess> {
  const server = procs.start({
    labDir,
    cmd: "cmd/c2-server.ts",
    name: "c2-server",
    args: ["--keys", keys.layout.root, "--bind", bind, "--command-ms", "100"],
  });
  await server.waitForLog("ironhouse ready", WAIT);
  procs.start({
    labDir,
    cmd: "cmd/secure-agent.ts",
    name: "agent-1",
    args: ["--keys", keys.layout.root, "--name", "agent-1", "--server", connectTo],
  });
  await server.waitForLog(() => server.find({ msg: "answered", agent: "agent-1" }).length >= answers, WAIT);
  // The plaintext we look for did cross: the server read it out of the boxes.
  expect(server.find({ msg: "answered", command: "rotate-log" }).length).toBeGreaterThan(0);
  await procs.stopAll();
  return server;
}

function expectNoPlaintext(bytes: Buffer): void {
  expect(bytes.includes("CURVE")).toBe(true);
  for (const word of PLAINTEXT) expect(bytes.includes(word), `"${word}" in the captured stream`).toBe(false);
}

describe("the TCP stream carries no plaintext command", () => {
  it.skipIf(!TCPDUMP)("tcpdump on lo for this test's port (skipped where tcpdump is missing)", async () => {
    const endpoint = await freeTcpEndpoint();
    const port = endpoint.split(":").pop() as string;
    const file = join(keys.layout.root, "c2.pcap");
    // --immediate-mode: each packet is handed to tcpdump as it comes. Without it, libpcap hands over
    // blocks of packets when one fills or a timeout passes, and a SIGINT before that loses them all
    // ("0 packets captured, 88 packets received by filter", once, under load).
    const dump: ChildProcess = spawn("tcpdump", ["-i", "lo", "--immediate-mode", "-U", "-n", "-w", file, "tcp", "port", port], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    const listening = new Promise<void>((resolve, reject) => {
      dump.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("listening on")) resolve();
      });
      dump.on("exit", (code) => reject(new Error(`tcpdump exited ${code}: ${stderr.trim()}`)));
    });
    try {
      await withDeadline(listening, 10_000, "tcpdump to listen");
      await exchange(endpoint, endpoint);
      // Written (-U: a packet at a time) before tcpdump is stopped: the greeting at least.
      await waitUntil(() => existsSync(file) && readFileSync(file).includes("CURVE"), {
        timeoutMs: 10_000,
        what: "the capture to hold the greeting",
      });
    } finally {
      const exited = new Promise((resolve) => dump.on("exit", resolve));
      dump.kill("SIGINT");
      await withDeadline(exited, 10_000, "tcpdump to stop");
    }
    const pcap = readFileSync(file);
    // Packets were written (tcpdump reports them on stderr), and the greeting is among them.
    expect(stderr).toMatch(/[1-9]\d* packets? captured/);
    expectNoPlaintext(pcap);
  });

  it("every byte through a relay of ours", async () => {
    const serverEndpoint = await freeTcpEndpoint();
    const recorded: Buffer[] = [];
    const relay: Server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(Number(serverEndpoint.split(":").pop()), "127.0.0.1");
      client.on("data", (d: Buffer) => recorded.push(d));
      upstream.on("data", (d: Buffer) => recorded.push(d));
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end);
      upstream.on("error", end);
      client.on("close", end);
      upstream.on("close", end);
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const address = relay.address();
    const relayEndpoint = `tcp://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    try {
      await exchange(serverEndpoint, relayEndpoint);
    } finally {
      relay.close();
    }
    const bytes = Buffer.concat(recorded);
    expect(bytes.length).toBeGreaterThan(2000);
    expectNoPlaintext(bytes);
  });
});
