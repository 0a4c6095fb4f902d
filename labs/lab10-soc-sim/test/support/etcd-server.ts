// Real servers for the tests: Debian's etcd (and, through ServerProcess, redis-server), each on free
// loopback ports with a temporary data dir, stopped and removed afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeTcpEndpoints, waitUntil } from "@zlabs/kit/testing";

export const ETCD_BIN = "/usr/bin/etcd";
/** Deadline for a server to answer after it was started (busy shared machine). */
export const SERVER_START_MS = 30_000;

export function missingBinary(path: string): string | undefined {
  return existsSync(path)
    ? undefined
    : `${path} is not installed (apt-get install ${path.endsWith("etcd") ? "etcd-server" : "redis-server"})`;
}

/** A server binary run as a child, with its output kept for error messages. */
export class ServerProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    private readonly bin: string,
    private readonly args: string[],
    private readonly ready: () => Promise<boolean>,
  ) {}

  async start(): Promise<void> {
    const child = spawn(this.bin, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        this.output.push(...chunk.split("\n").filter(Boolean));
        if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
      });
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    await waitUntil(
      async () => {
        if (gone) throw new Error(`${this.name} exited at start:\n${this.tail()}`);
        return this.ready().catch(() => false);
      },
      { timeoutMs: SERVER_START_MS, what: `${this.name} answering`, everyMs: 100 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.tail()}`);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGTERM (SIGKILL after graceMs); resolves once it has exited. */
  async stop(graceMs = 5_000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  tail(n = 20): string {
    return this.output
      .slice(-n)
      .map((l) => `  ${this.name} | ${l}`)
      .join("\n");
  }
}

export class EtcdServer {
  private constructor(
    readonly clientUrl: string,
    private readonly dataDir: string,
    private readonly server: ServerProcess,
  ) {}

  /**
   * Starts a single-node etcd with a fresh data dir: on free loopback ports, or on the URLs given, inside
   * the network namespace given (`ip netns exec` execs etcd: the pid stopped is etcd's).
   */
  static async start(where: { client?: string; peer?: string; netns?: string } = {}): Promise<EtcdServer> {
    const free = (await freeTcpEndpoints(2)).map((e) => e.replace("tcp://", "http://"));
    const client = where.client ?? (free[0] as string);
    const peer = where.peer ?? (free[1] as string);
    const dataDir = mkdtempSync(join(tmpdir(), "lab10-etcd-"));
    const args = [
      ETCD_BIN,
      "--name",
      "lab10",
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `lab10=${peer}`,
      "--initial-cluster-state",
      "new",
      "--log-level",
      "warn",
      "--logger",
      "zap",
    ];
    const [bin, ...argv] = where.netns ? ["ip", "netns", "exec", where.netns, ...args] : args;
    const server = new ServerProcess("etcd", bin as string, argv, async () => {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(2_000) });
      return res.ok && ((await res.json()) as { health?: string }).health === "true";
    });
    const etcd = new EtcdServer(client, dataDir, server);
    try {
      await server.start();
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    return etcd;
  }

  /** Stops etcd and starts it again on the same ports and data (its keys and leases survive). */
  async restart(): Promise<void> {
    await this.server.stop();
    await this.server.start();
  }

  /** Stops etcd, loses its data (keys, leases, revisions), and starts it again on the same ports. */
  async restartEmpty(): Promise<void> {
    await this.server.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
    await this.server.start();
  }

  /** SIGKILL, as a crash: the data dir stays, start again with restart(). */
  async kill(): Promise<void> {
    await this.server.stop(0, "SIGKILL");
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
