// Discovery across a real broadcast domain of its own: two network namespaces joined by a veth
// pair (10.24.0.0/24), a device in one, the scanner in the other. The beacon goes to 10.24.0.255,
// the scanner takes the device's address from recvfrom and connects CURVE to it. Then the link
// is cut (the device vanishes for the scanner) and restored (it joins again), and a SIGTERM makes
// it leave. Names start with zl24; everything is removed afterwards, also when a test fails.
// Skipped, saying why, where `ip netns` cannot be used (not root, no iproute2, no CAP_NET_ADMIN).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type LogEntry, type LogMatch, matches, waitUntil } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeUdpPort, tempDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const tag = String(process.pid % 100_000);
const NS_DEVICE = `zl24d${tag}`;
const NS_SCANNER = `zl24s${tag}`;
const VETH_DEVICE = `zl24vd${tag}`;
const VETH_SCANNER = `zl24vs${tag}`;
const DEVICE_IP = "10.24.0.1";
const SCANNER_IP = "10.24.0.2";
const BROADCAST = "10.24.0.255";

const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });

/** Why `ip netns` cannot be used here, or undefined when it can (tried with a namespace made and removed). */
function netnsUnusable(): string | undefined {
  const probe = `zl24p${tag}`;
  const made = ip("netns", "add", probe);
  if (made.error) return `ip is not available (${made.error.message})`;
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  ip("netns", "del", probe);
  return undefined;
}
const unusable = netnsUnusable();

function run(...args: string[]): void {
  const r = ip(...args);
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** A role started inside a namespace with `ip netns exec NS node --import tsx ...` (ip execs node: same pid). */
class NsRole {
  readonly logs: LogEntry[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(
    readonly ns: string,
    cmd: string,
    args: string[],
  ) {
    this.child = spawn("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", join(labDir, cmd), ...args], {
      cwd: labDir,
      env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "debug", ZLABS_VIEW: "off", ZLABS_USER_CWD: labDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout, this.child.stderr])
      if (stream)
        createInterface({ input: stream }).on("line", (line) => {
          if (line.startsWith("{")) this.logs.push(JSON.parse(line) as LogEntry);
        });
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
  }

  waitFor(match: LogMatch, from = 0): Promise<LogEntry> {
    return waitUntil(() => this.logs.slice(from).find((e) => matches(e, match)), {
      timeoutMs: WAIT_MS,
      what: `${this.ns}: ${JSON.stringify(typeof match === "function" ? "a line" : match)}`,
      everyMs: 50,
    });
  }

  /** By pid: SIGTERM (a clean stop) or SIGKILL. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      process.kill(this.child.pid, signal);
    await this.exited;
  }
}

describe.skipIf(unusable !== undefined)(
  `discovery across two network namespaces joined by a veth pair${unusable ? ` (skipped: ${unusable})` : ""}`,
  () => {
    const roles: NsRole[] = [];
    const tmp = tempDir("netns");

    beforeAll(() => {
      run("netns", "add", NS_DEVICE);
      run("netns", "add", NS_SCANNER);
      run("link", "add", VETH_DEVICE, "type", "veth", "peer", "name", VETH_SCANNER);
      run("link", "set", VETH_DEVICE, "netns", NS_DEVICE);
      run("link", "set", VETH_SCANNER, "netns", NS_SCANNER);
      for (const [ns, dev, addr] of [
        [NS_DEVICE, VETH_DEVICE, DEVICE_IP],
        [NS_SCANNER, VETH_SCANNER, SCANNER_IP],
      ] as const) {
        run("-n", ns, "addr", "add", `${addr}/24`, "brd", BROADCAST, "dev", dev);
        run("-n", ns, "link", "set", "lo", "up");
        run("-n", ns, "link", "set", dev, "up");
      }
    });

    afterAll(async () => {
      try {
        await Promise.all(roles.map((r) => r.kill("SIGKILL")));
      } finally {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        ip("netns", "del", NS_DEVICE);
        ip("netns", "del", NS_SCANNER);
        ip("link", "del", VETH_DEVICE);
        tmp.cleanup();
      }
      expect(ip("netns", "list").stdout).not.toContain(`zl24d${tag}`);
    });

    it("the scanner in one namespace discovers the device in the other, talks CURVE to its address, sees it vanish when the link is cut, return, and leave", async () => {
      const pinned = join(tmp.dir, "pinned");
      // Every port is free in a new namespace; picked like every other test's all the same.
      const beacon = ["--beacon-port", String(await freeUdpPort()), "--beacon-address", BROADCAST, "--interval", "200", "--expiry", "1500"];
      const scanner = new NsRole(NS_SCANNER, "cmd/network-scanner.ts", ["--pinned", pinned, "--poll", "300", ...beacon]);
      roles.push(scanner);
      await scanner.waitFor("listening for beacons");
      const device = new NsRole(NS_DEVICE, "cmd/secure-device.ts", [
        "--name",
        "far",
        "--cert",
        join(pinned, "far"),
        "--bind",
        `tcp://${DEVICE_IP}:*`,
        ...beacon,
      ]);
      roles.push(device);
      const joined = await scanner.waitFor("device joined");
      expect(joined.endpoint).toMatch(new RegExp(`^tcp://${DEVICE_IP.replaceAll(".", "\\.")}:\\d+$`));
      await scanner.waitFor({ msg: "device named itself over CURVE", name: "far" });

      // A partition: the link goes down, the beacons stop arriving, the device vanishes after the expiry.
      run("-n", NS_DEVICE, "link", "set", VETH_DEVICE, "down");
      const vanished = await scanner.waitFor({ msg: "device vanished", device: "far" });
      expect(vanished.silentMs as number).toBeGreaterThanOrEqual(1500);
      const from = scanner.logs.length;
      run("-n", NS_DEVICE, "link", "set", VETH_DEVICE, "up");
      await scanner.waitFor("device joined", from);
      await scanner.waitFor("CURVE handshake done", from);
      // A device rejoining is a new entry: its name (which the logs use) comes with its first reply.
      await scanner.waitFor({ msg: "device named itself over CURVE", name: "far" }, from);

      // A clean stop: the port-0 beacon crosses the link and the scanner removes it at once.
      await device.kill("SIGTERM");
      const left = await scanner.waitFor({ msg: "device left", device: "far" });
      expect(left.silentMs as number).toBeLessThan(1500);
    });
  },
);
