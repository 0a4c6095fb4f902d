// Several hosts on one machine: each service in its own network namespace, every namespace on one bridge
// through a veth pair; this (root) namespace is on the bridge too, so the test reaches every host.
// Names start with zl10 (namespaces zl10-<host>, links zl10br0 and zl10v<n>); everything is removed in
// cleanup(), and leftovers of an earlier, crashed run are removed before a new one starts.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { DeadlineError, type LogEntry, type LogMatch, matches } from "@zlabs/kit/testing";

export const BRIDGE = "zl10br0";
export const SUBNET = "10.210.0";
const NS_PREFIX = "zl10-";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function tryIp(...args: string[]): boolean {
  return spawnSync("ip", args, { stdio: "ignore" }).status === 0;
}

const hasIptables = () => spawnSync("iptables", ["-S", "FORWARD"], { stdio: "ignore" }).status === 0;
/** Bridged frames go through iptables when br_netfilter is loaded (Docker loads it and sets FORWARD DROP). */
const FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (!existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip") && !existsSync("/usr/bin/ip"))
    return "no ip command (apt-get install iproute2)";
  if (process.getuid?.() !== 0) return "network namespaces need root";
  const probe = `${NS_PREFIX}probe-${process.pid}`;
  if (!tryIp("netns", "add", probe)) return "ip netns add failed (no CAP_SYS_ADMIN here?)";
  tryIp("netns", "del", probe);
  return undefined;
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  /** The root-side end of its veth: down = the host is cut off the bridge. */
  link: string;
}

/** Removes every zl10 namespace, link and the forward rule (this run's, or a crashed run's). */
export function removeAll(): void {
  for (const line of ip("netns", "list").split("\n")) {
    const ns = line.split(" ")[0];
    if (ns?.startsWith(NS_PREFIX)) {
      // Processes still inside keep the namespace alive: kill them first.
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone already
        }
      }
      tryIp("netns", "del", ns);
    }
  }
  for (const line of ip("-o", "link", "show").split("\n")) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name?.startsWith("zl10v") || name === BRIDGE) tryIp("link", "del", name);
  }
  if (hasIptables()) while (spawnSync("iptables", ["-D", ...FORWARD_RULE], { stdio: "ignore" }).status === 0);
}

export class Network {
  readonly hosts = new Map<string, Host>();
  readonly gateway = `${SUBNET}.1`;

  /** The bridge, with this namespace on it at .1. */
  static create(): Network {
    removeAll();
    ip("link", "add", BRIDGE, "type", "bridge");
    ip("addr", "add", `${SUBNET}.1/24`, "dev", BRIDGE);
    ip("link", "set", BRIDGE, "up");
    if (hasIptables()) execFileSync("iptables", ["-I", ...FORWARD_RULE]);
    return new Network();
  }

  /** A namespace on the bridge at .<n> (n >= 2), with loopback up. */
  addHost(name: string, n: number): Host {
    const host: Host = { name, ns: `${NS_PREFIX}${name}`, address: `${SUBNET}.${n}`, link: `zl10v${n}` };
    ip("netns", "add", host.ns);
    ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.ns);
    ip("link", "set", host.link, "master", BRIDGE, "up");
    ip("-n", host.ns, "addr", "add", `${host.address}/24`, "dev", "eth0");
    ip("-n", host.ns, "link", "set", "eth0", "up");
    ip("-n", host.ns, "link", "set", "lo", "up");
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Cuts a host off the bridge: its packets go nowhere, nobody is told (no RST, no FIN). */
  partition(name: string): void {
    ip("link", "set", this.host(name).link, "down");
  }

  heal(name: string): void {
    ip("link", "set", this.host(name).link, "up");
  }

  cleanup(): void {
    removeAll();
  }
}

/**
 * A program run inside a namespace (`ip netns exec` execs it: the pid is the program's), its JSON log
 * lines parsed as they come, so a test waits for "ready" with a deadline.
 */
export class NsProcess {
  readonly logs: LogEntry[] = [];
  readonly lines: string[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private done = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    ns: string,
    argv: string[],
    options: { cwd: string; env?: Record<string, string> },
  ) {
    this.child = spawn("ip", ["netns", "exec", ns, ...argv], {
      cwd: options.cwd,
      env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "info", ZLABS_VIEW: "off", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream)
        createInterface({ input: stream }).on("line", (line) => {
          this.lines.push(line);
          if (line.startsWith("{")) {
            try {
              this.logs.push(JSON.parse(line) as LogEntry);
            } catch {
              // kept in lines
            }
          }
          for (const wake of [...this.waiters]) wake();
        });
    }
    this.exited = new Promise((resolve) =>
      this.child.on("close", () => {
        this.done = true;
        for (const wake of [...this.waiters]) wake();
        resolve();
      }),
    );
  }

  waitForLog(match: LogMatch, timeoutMs: number, from = 0): Promise<LogEntry> {
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      const check = () => {
        const hit = this.logs.slice(from).find((e) => matches(e, match));
        if (hit) finish(() => resolve(hit));
        else if (this.done) finish(() => reject(new Error(`${this.name} exited before ${String(match)}\n${this.tail()}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new DeadlineError(`${this.name}: no ${String(match)} within ${timeoutMs} ms\n${this.tail()}`))),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  tail(n = 15): string {
    return this.lines
      .slice(-n)
      .map((l) => `  ${this.name} | ${l}`)
      .join("\n");
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.done) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
