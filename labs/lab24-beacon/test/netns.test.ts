// Discovery across a real broadcast domain of its own: two network namespaces on a switch (the kit's
// NetnsSwitch, 10.24.0.0/24), a device in one, the scanner in the other. The beacon goes to 10.24.0.255,
// the scanner takes the device's address from recvfrom and connects CURVE to it. Then the link
// is cut by a partition (the device vanishes for the scanner) and restored (it joins again), and a SIGTERM makes
// it leave. Names start with zl24; everything is removed afterwards, also when a test fails.
// Skipped, saying why, where `ip netns` cannot be used (not root, no iproute2, no CAP_NET_ADMIN).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NetnsSwitch, netnsUnusable, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeUdpPort, tempDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const PREFIX = "zl24";
const BROADCAST = "10.24.0.255";
const DEVICE_IP = "10.24.0.2";
const unusable = netnsUnusable(PREFIX);
const procs = new ProcessPool();

describe.skipIf(unusable !== undefined)(
  `discovery across two network namespaces joined by a veth pair${unusable ? ` (skipped: ${unusable})` : ""}`,
  () => {
    const tmp = tempDir("netns");
    let net: NetnsSwitch;
    const inHost = (host: string, name: string, cmd: string, args: string[]): RoleProcess =>
      procs.start({ labDir, cmd, args, name, netns: net.host(host).ns });

    beforeAll(() => {
      net = new NetnsSwitch(PREFIX, "10.24.0");
      net.addHost("device", 2);
      net.addHost("scanner", 3);
    });

    afterAll(async () => {
      try {
        await procs.stopAll();
      } finally {
        net?.remove();
        tmp.cleanup();
      }
    });

    it("the scanner in one namespace discovers the device in the other, talks CURVE to its address, sees it vanish when the link is cut, return, and leave", async () => {
      const pinned = join(tmp.dir, "pinned");
      // Every port is free in a new namespace; picked like every other test's all the same.
      const beacon = ["--beacon-port", String(await freeUdpPort()), "--beacon-address", BROADCAST, "--interval", "200", "--expiry", "1500"];
      const scanner = inHost("scanner", "scanner", "cmd/network-scanner.ts", ["--pinned", pinned, "--poll", "300", ...beacon]);
      const waitFor = (match: Parameters<RoleProcess["waitForLog"]>[0], from = 0) => scanner.waitForLog(match, WAIT_MS, from);
      await waitFor("listening for beacons");
      const device = inHost("device", "device", "cmd/secure-device.ts", [
        "--name",
        "far",
        "--cert",
        join(pinned, "far"),
        "--bind",
        `tcp://${DEVICE_IP}:*`,
        ...beacon,
      ]);
      const joined = await waitFor("device joined");
      expect(joined.endpoint).toMatch(new RegExp(`^tcp://${DEVICE_IP.replaceAll(".", "\\.")}:\\d+$`));
      await waitFor({ msg: "device named itself over CURVE", name: "far" });

      // A partition: the link goes down, the beacons stop arriving, the device vanishes after the expiry.
      net.partition(["device"]);
      const vanished = await waitFor({ msg: "device vanished", device: "far" });
      expect(vanished.silentMs as number).toBeGreaterThanOrEqual(1500);
      const from = scanner.logs.length;
      net.heal();
      await waitFor("device joined", from);
      await waitFor("CURVE handshake done", from);
      // A device rejoining is a new entry: its name (which the logs use) comes with its first reply.
      await waitFor({ msg: "device named itself over CURVE", name: "far" }, from);

      // A clean stop: the port-0 beacon crosses the link and the scanner removes it at once.
      await device.kill("SIGTERM");
      const left = await waitFor({ msg: "device left", device: "far" });
      expect(left.silentMs as number).toBeLessThan(1500);
    });
  },
);
