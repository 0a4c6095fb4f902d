// Network namespaces for the partition tests: several "hosts" on one machine, so that discovery,
// reconnects and partitions are real network events. Every name a test makes starts with its lab's
// prefix (zl11, zl17...), so labs never collide, and everything is removed afterwards (also after a
// crashed run: removeNamespaces(prefix) first). Needs Linux, root and iproute2; a test asks
// netnsUnusable(prefix) and reports itself skipped with that reason.
import { execFileSync, spawnSync } from "node:child_process";

/** Runs `ip ARGS` and returns its output; throws with ip's own message when it fails. */
export function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const why = String((err as { stderr?: string }).stderr ?? "").trim() || (err as Error).message;
    throw new Error(`ip ${args.join(" ")}: ${why}`);
  }
}

/** `ip ARGS` for cleanup: true when it worked, never throws. */
export function tryIp(...args: string[]): boolean {
  return spawnSync("ip", args, { stdio: "ignore" }).status === 0;
}

/** Why namespaces cannot be made here, or undefined when they can (tried: one made and removed). */
export function netnsUnusable(prefix: string): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (process.getuid?.() !== 0) return "ip netns needs root";
  const probe = `${prefix}probe${process.pid % 100_000}`;
  const made = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (made.error) return `no ip command (apt-get install iproute2): ${made.error.message}`;
  if (made.status !== 0) return `ip netns add fails here: ${made.stderr.trim()}`;
  tryIp("netns", "del", probe);
  return undefined;
}

/** The namespaces that exist now whose names start with prefix. */
export function namespacesWithPrefix(prefix: string): string[] {
  return ip("netns", "list")
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix));
}

/** Makes a namespace with its loopback up. */
export function addNamespace(name: string): void {
  ip("netns", "add", name);
  ip("-n", name, "link", "set", "lo", "up");
}

/**
 * Removes every namespace and root-namespace link whose name starts with prefix. Processes still
 * inside keep a namespace's network alive, so they are SIGKILLed first; veths go with their namespace.
 */
export function removeNamespaces(prefix: string): void {
  for (const ns of namespacesWithPrefix(prefix)) {
    const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout?.split("\n").filter(Boolean) ?? [];
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    tryIp("netns", "del", ns);
  }
  for (const line of ip("-o", "link", "show").split("\n")) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name?.startsWith(prefix)) tryIp("link", "del", name);
  }
}

export interface NetnsHost {
  name: string;
  ns: string;
  address: string;
}

/**
 * Hosts on a switch: a namespace `<prefix>sw` holding two bridges, each host a namespace `<prefix><name>`
 * with eth0 on the first bridge at `<subnet>.<n>`. The switch lives in a namespace of its own, so the
 * host's firewall (Docker sets FORWARD to DROP) never sees the bridged frames. `connectTest()` puts this
 * (the test's) namespace on the switch too. A partition moves hosts' ports to the second bridge: each
 * side still reaches itself, not the other, and nobody is told (no RST, no FIN).
 */
export class NetnsSwitch {
  readonly hosts = new Map<string, NetnsHost>();
  private readonly switchNs: string;
  private testLink: string | undefined;

  constructor(
    readonly prefix: string,
    readonly subnet: string,
  ) {
    removeNamespaces(prefix);
    this.switchNs = `${prefix}sw`;
    addNamespace(this.switchNs);
    for (const br of ["br0", "br1"]) {
      ip("-n", this.switchNs, "link", "add", br, "type", "bridge");
      ip("-n", this.switchNs, "link", "set", br, "up");
    }
  }

  /** A namespace on the switch at `<subnet>.<n>` (n from 2 to 254). */
  addHost(name: string, n: number): NetnsHost {
    const host = { name, ns: `${this.prefix}${name}`, address: `${this.subnet}.${n}` };
    addNamespace(host.ns);
    ip("-n", this.switchNs, "link", "add", this.port(n), "type", "veth", "peer", "name", "eth0", "netns", host.ns);
    ip("-n", host.ns, "addr", "add", `${host.address}/24`, "brd", "+", "dev", "eth0");
    ip("-n", host.ns, "link", "set", "eth0", "up");
    ip("-n", this.switchNs, "link", "set", this.port(n), "master", "br0", "up");
    this.hosts.set(name, host);
    return host;
  }

  /** Puts the test's own namespace on the switch at `<subnet>.1`, so it reaches every host. */
  connectTest(): string {
    this.testLink = `${this.prefix}t0`;
    ip("link", "add", this.testLink, "type", "veth", "peer", "name", "tport", "netns", this.switchNs);
    ip("addr", "add", `${this.subnet}.1/24`, "dev", this.testLink);
    ip("link", "set", this.testLink, "up");
    ip("-n", this.switchNs, "link", "set", "tport", "master", "br0", "up");
    return `${this.subnet}.1`;
  }

  host(name: string): NetnsHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} on the switch`);
    return host;
  }

  /** Cuts these hosts off the others (and off the test); they still reach each other. */
  partition(names: string[]): void {
    for (const [name, host] of this.hosts) {
      const bridge = names.includes(name) ? "br1" : "br0";
      ip("-n", this.switchNs, "link", "set", this.port(Number(host.address.split(".").at(-1))), "master", bridge);
    }
  }

  /** Every host back on one bridge. */
  heal(): void {
    this.partition([]);
  }

  /** Kills what runs on the hosts and removes every namespace and link made. */
  remove(): void {
    removeNamespaces(this.prefix);
  }

  private port(n: number): string {
    return `p${n}`;
  }
}
