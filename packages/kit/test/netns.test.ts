// The namespace helpers the partition tests of the labs use: a switch, hosts on it, a role run in a
// host, a partition that really cuts, and nothing left behind. Skipped, saying why, without root/ip.
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { NetnsSwitch, namespacesWithPrefix, netnsUnusable, removeNamespaces } from "../src/testing/netns.ts";
import { ProcessPool } from "../src/testing/process.ts";

const PREFIX = "zl00";
const fixtures = fileURLToPath(new URL("./fixtures/netns", import.meta.url));
const unusable = netnsUnusable(PREFIX);
const procs = new ProcessPool();

afterAll(async () => {
  await procs.stopAll();
  if (!unusable) removeNamespaces(PREFIX);
});

/** Whether a TCP echo round trip to host:port works within timeoutMs. */
function reaches(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("connect", () => socket.write("ping\n"));
    socket.on("data", (data) => done(data.toString() === "ping\n"));
    socket.on("error", () => done(false));
  });
}

describe.skipIf(unusable !== undefined)(`network namespaces${unusable ? ` (skipped: ${unusable})` : ""}`, () => {
  it("puts hosts on a switch, runs a role in one, partitions and heals, then removes everything", async () => {
    const net = new NetnsSwitch(PREFIX, "10.200.0");
    const a = net.addHost("a", 2);
    net.addHost("b", 3);
    net.connectTest();
    const server = procs.start({ labDir: fixtures, cmd: "echo-server.mjs", args: [a.address], nodeArgs: [], netns: a.ns });
    const { port } = (await server.waitForLog("listening", 20_000)) as unknown as { port: number };
    // The server listens on the host's address only: reachable from the test through the switch.
    expect(await reaches(a.address, port, 10_000)).toBe(true);
    net.partition(["a"]);
    expect(await reaches(a.address, port, 1_000)).toBe(false);
    net.heal();
    expect(await reaches(a.address, port, 10_000)).toBe(true);
    expect(namespacesWithPrefix(PREFIX).sort()).toEqual(["zl00a", "zl00b", "zl00sw"]);
    net.remove();
    expect(namespacesWithPrefix(PREFIX)).toEqual([]);
    // The server was inside: removing its namespace killed it.
    expect((await server.exited).signal).toBe("SIGKILL");
  });
});
