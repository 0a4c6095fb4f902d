// Network namespaces for the partition tests: the primary, the backup and the client each in a
// namespace of its own, joined by three veth pairs (the state link, and one link from the client to
// each server), so a test can cut any link with `ip link set ... down`. Every name starts with zl11.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { type LogEntry, type LogMatch, matches, waitUntil } from "@zlabs/kit/testing";

export const NAMESPACES = { primary: "zl11p", backup: "zl11b", client: "zl11c" } as const;
type Where = keyof typeof NAMESPACES;

interface End {
  ns: Where;
  dev: string;
  ip: string;
}

/** Each link: a veth pair with a /30 on it. */
export const LINKS = {
  state: [
    { ns: "primary", dev: "zl11st-p", ip: "10.111.1.1" },
    { ns: "backup", dev: "zl11st-b", ip: "10.111.1.2" },
  ],
  primaryClient: [
    { ns: "primary", dev: "zl11pc-p", ip: "10.111.2.1" },
    { ns: "client", dev: "zl11pc-c", ip: "10.111.2.2" },
  ],
  backupClient: [
    { ns: "backup", dev: "zl11bc-b", ip: "10.111.3.1" },
    { ns: "client", dev: "zl11bc-c", ip: "10.111.3.2" },
  ],
} as const satisfies Record<string, readonly [End, End]>;
export type Link = keyof typeof LINKS;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Why `ip netns` cannot be used here, or undefined when it can. */
export function netnsUnusable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (process.getuid?.() !== 0) return "ip netns needs root";
  try {
    ip("netns", "add", "zl11probe");
    ip("netns", "del", "zl11probe");
    return undefined;
  } catch (err) {
    return `ip netns does not work here: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`;
  }
}

/** Our namespaces that exist now. */
export function ourNamespaces(): string[] {
  return ip("netns", "list")
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith("zl11"));
}

/** PIDs of the processes in a namespace. */
export function pidsIn(ns: string): number[] {
  return ip("netns", "pids", ns).split("\n").filter(Boolean).map(Number);
}

/** Kills whatever runs in our namespaces, then deletes them (their veths go with them). */
export function teardown(): void {
  for (const ns of ourNamespaces()) {
    for (const pid of pidsIn(ns)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    ip("netns", "del", ns);
  }
}

export function build(): void {
  teardown();
  for (const ns of Object.values(NAMESPACES)) {
    ip("netns", "add", ns);
    ip("-n", ns, "link", "set", "lo", "up");
  }
  for (const [a, b] of Object.values(LINKS)) {
    ip("link", "add", a.dev, "netns", NAMESPACES[a.ns], "type", "veth", "peer", "name", b.dev, "netns", NAMESPACES[b.ns]);
    for (const end of [a, b]) {
      ip("-n", NAMESPACES[end.ns], "addr", "add", `${end.ip}/30`, "dev", end.dev);
      ip("-n", NAMESPACES[end.ns], "link", "set", end.dev, "up");
    }
  }
}

/** Cuts a link (its first end down: the other loses its carrier too) or heals it. */
export function setLink(link: Link, up: boolean): void {
  const [end] = LINKS[link];
  ip("-n", NAMESPACES[end.ns], "link", "set", end.dev, up ? "up" : "down");
}

/**
 * A cmd/ file running in a namespace: `ip netns exec NS node --import tsx cmd ...`. ip execs node
 * in place, so the child's pid is node's own: it is killed by that pid.
 */
export class NetnsRole {
  readonly logs: LogEntry[] = [];
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  exit: { code: number | null; signal: string | null } | undefined;

  constructor(
    readonly name: string,
    where: Where,
    labDir: string,
    cmd: string,
    args: string[],
  ) {
    this.child = spawn("ip", ["netns", "exec", NAMESPACES[where], process.execPath, "--import", "tsx", cmd, ...args], {
      cwd: labDir,
      env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "debug", ZLABS_VIEW: "off", ZLABS_USER_CWD: labDir },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.on("close", (code, signal) => {
      this.exit = { code, signal };
    });
    for (const stream of [this.child.stdout, this.child.stderr])
      if (stream)
        createInterface({ input: stream }).on("line", (line) => {
          this.lines.push(line);
          if (line.startsWith("{")) this.logs.push(JSON.parse(line) as LogEntry);
        });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  find(match: LogMatch, from = 0): LogEntry[] {
    return this.logs.slice(from).filter((e) => matches(e, match));
  }

  /** The first line matching from `from` on; fails at the deadline, or when the process exits first. */
  async waitForLog(match: LogMatch, timeoutMs: number, from = 0): Promise<LogEntry> {
    try {
      return await waitUntil(
        () => {
          const found = this.find(match, from)[0];
          if (!found && this.exit) throw new Error(`exited (${JSON.stringify(this.exit)})`);
          return found;
        },
        {
          timeoutMs,
          what: `${this.name}: ${typeof match === "function" ? "a matching line" : JSON.stringify(String(match))}`,
          everyMs: 20,
        },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.lines.slice(-15).join("\n")}`);
    }
  }

  /** SIGTERM by pid, SIGKILL after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exit) return;
    const exited = new Promise((resolve) => this.child.once("close", resolve));
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(this.pid, signal);
      } catch {
        // It exited meanwhile.
      }
    };
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
