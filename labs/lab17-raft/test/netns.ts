// Five network namespaces (zl17n1..zl17n5), one per node, on a bridge that lives in a namespace of
// its own (zl17sw: its firewall is empty, whatever the host's FORWARD policy), and a link from the
// test's own namespace to that bridge. A partition moves some nodes' ports to a second bridge:
// each side still reaches itself, not the other. Every name starts with zl17.
import { execFileSync } from "node:child_process";

export const SWITCH = "zl17sw";
export const SIZE = 5;
export const nsOf = (i: number) => `zl17n${i + 1}`;
export const ipOf = (i: number) => `10.117.0.${11 + i}`;
export const HOST_IP = "10.117.0.1";
const port = (i: number) => `zl17p${i + 1}`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Our namespaces that exist now (from `ip -j netns list`, JSON). */
export function ourNamespaces(): string[] {
  const listed = ip("-j", "netns", "list").trim();
  const names = listed ? (JSON.parse(listed) as { name: string }[]).map((n) => n.name) : [];
  return names.filter((n) => n.startsWith("zl17"));
}

/** Why the partition test cannot run here (it needs root and a working `ip netns`), or undefined. */
export function netnsUnusable(): string | undefined {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "network namespaces need Linux and root";
  const probe = "zl17probe";
  try {
    ip("netns", "add", probe);
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `ip netns add fails here: ${why || (err as Error).message}`;
  }
  ip("netns", "del", probe);
  return undefined;
}

/** Kills what runs in our namespaces and deletes them (their veths go with them), and our host link. */
export function teardown(): void {
  for (const ns of ourNamespaces()) {
    for (const pid of ip("netns", "pids", ns).split("\n").filter(Boolean).map(Number)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    ip("netns", "del", ns);
  }
  try {
    ip("link", "del", "zl17h0");
  } catch {
    // Went with the switch's namespace.
  }
}

export function build(): void {
  teardown();
  ip("netns", "add", SWITCH);
  for (const br of ["zl17br0", "zl17br1"]) {
    ip("-n", SWITCH, "link", "add", br, "type", "bridge");
    ip("-n", SWITCH, "link", "set", br, "up");
  }
  // The test's own link to the main bridge.
  ip("link", "add", "zl17h0", "type", "veth", "peer", "name", "zl17hp", "netns", SWITCH);
  ip("addr", "add", `${HOST_IP}/24`, "dev", "zl17h0");
  ip("link", "set", "zl17h0", "up");
  ip("-n", SWITCH, "link", "set", "zl17hp", "master", "zl17br0", "up");
  for (let i = 0; i < SIZE; i++) {
    const ns = nsOf(i);
    ip("netns", "add", ns);
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", SWITCH, "link", "add", port(i), "type", "veth", "peer", "name", "eth0", "netns", ns);
    ip("-n", ns, "addr", "add", `${ipOf(i)}/24`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
    ip("-n", SWITCH, "link", "set", port(i), "master", "zl17br0", "up");
  }
}

/** Puts these nodes on the second bridge (cut off from the others and from the test), or all back. */
export function partition(minority: number[]): void {
  for (let i = 0; i < SIZE; i++) ip("-n", SWITCH, "link", "set", port(i), "master", minority.includes(i) ? "zl17br1" : "zl17br0");
}

export const heal = () => partition([]);
