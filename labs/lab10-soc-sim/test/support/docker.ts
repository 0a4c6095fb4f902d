// A Docker engine for the compose test: the one that answers, or dockerd started here (and stopped after)
// when none does; docker-compose (v1) run on the lab's compose.yaml under a fixed project name.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { waitUntil } from "@zlabs/kit/testing";
import { LAB_DIR } from "../../docker/images.ts";

export const COMPOSE_FILE = join(LAB_DIR, "compose.yaml");
/** Project name of the test's compose run (container and network names start with it). */
export const COMPOSE_PROJECT = "zl10compose";
export const DOCKERD_LOG = "/tmp/zl10-dockerd.log";
/** Deadline for a dockerd started here to answer. */
export const DOCKERD_START_MS = 90_000;

function which(cmd: string): string | undefined {
  const out = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return out.status === 0 ? out.stdout.trim() : undefined;
}

export function engineAnswers(): boolean {
  return spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 15_000, stdio: "ignore" }).status === 0;
}

/**
 * Why the compose test cannot run here, or undefined when it can: the docker and docker-compose clients,
 * and an engine that answers or a dockerd this test may start (as root).
 */
export function dockerSkipReason(): string | undefined {
  if (!which("docker")) return "no docker client (apt-get install docker.io)";
  if (!which("docker-compose")) return "no docker-compose (apt-get install docker-compose)";
  if (engineAnswers()) return undefined;
  if (!which("dockerd")) return "no Docker engine answers and no dockerd to start (apt-get install docker.io)";
  if (process.getuid?.() !== 0) return "no Docker engine answers and dockerd needs root to start";
  return undefined;
}

/** The engine for the test: the running one, or a dockerd started now; stop() stops only what was started. */
export class DockerEngine {
  private constructor(
    private readonly dockerd: ChildProcess | undefined,
    private readonly before?: HostState,
  ) {}

  get started(): boolean {
    return this.dockerd !== undefined;
  }

  static async ensure(): Promise<DockerEngine> {
    if (engineAnswers()) return new DockerEngine(undefined);
    const before = hostState();
    const log = openSync(DOCKERD_LOG, "w");
    const dockerd = spawn("dockerd", [], { stdio: ["ignore", log, log] });
    closeSync(log);
    let exited = false;
    dockerd.once("exit", () => {
      exited = true;
    });
    const engine = new DockerEngine(dockerd, before);
    try {
      await waitUntil(
        () => {
          if (exited) throw new Error(`dockerd exited at start:\n${tail(DOCKERD_LOG)}`);
          return engineAnswers();
        },
        { timeoutMs: DOCKERD_START_MS, what: "dockerd answering", everyMs: 500 },
      );
    } catch (err) {
      await engine.stop();
      throw err;
    }
    return engine;
  }

  async stop(): Promise<void> {
    const dockerd = this.dockerd;
    if (!dockerd || dockerd.exitCode !== null || dockerd.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => dockerd.once("exit", () => resolve()));
    dockerd.kill("SIGTERM");
    const timer = setTimeout(() => dockerd.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    if (this.before) restoreHostState(this.before);
  }
}

/**
 * What dockerd changes on the host and leaves behind when it stops: the iptables rules (FORWARD policy
 * DROP, its chains: bridged traffic of other tests would be dropped) and the docker0 bridge.
 */
interface HostState {
  iptables: string | undefined;
  docker0: boolean;
}

function hostState(): HostState {
  const saved = spawnSync("iptables-save", [], { encoding: "utf8" });
  return {
    iptables: saved.status === 0 ? saved.stdout : undefined,
    docker0: spawnSync("ip", ["link", "show", "docker0"], { stdio: "ignore" }).status === 0,
  };
}

/** An empty table as iptables-save prints it: a table the saved state lacks was empty before dockerd. */
const EMPTY_TABLES: Record<string, string> = {
  filter: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
  nat: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n",
};

function restoreHostState(state: HostState): void {
  if (state.iptables !== undefined) {
    let rules = state.iptables;
    for (const [table, empty] of Object.entries(EMPTY_TABLES)) if (!rules.includes(`*${table}\n`)) rules += empty;
    spawnSync("iptables-restore", [], { input: rules });
  }
  if (!state.docker0) spawnSync("ip", ["link", "del", "docker0"], { stdio: "ignore" });
}

function tail(file: string, n = 20): string {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-n).join("\n") : "";
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a deadline (killed at it), collecting its output. */
export function runCommand(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs: number; cwd?: string },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd ?? LAB_DIR,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")}: no end within ${options.timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, options.timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** docker-compose on the lab's compose.yaml, under the test's project name; rejects when it fails. */
export async function compose(args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  const run = await runCommand("docker-compose", ["-p", COMPOSE_PROJECT, "-f", COMPOSE_FILE, ...args], { env, timeoutMs });
  if (run.code !== 0) throw new Error(`docker-compose ${args.join(" ")} failed (${run.code}):\n${run.stderr.slice(-3000)}`);
  return run.stdout;
}

/** The address of a compose service's container on the project network (reachable from this host). */
export function containerIp(service: string, index = 1): string {
  const name = `${COMPOSE_PROJECT}_${service}_${index}`;
  const out = spawnSync("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name], {
    encoding: "utf8",
  });
  const ip = out.stdout.trim();
  if (out.status !== 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`no address for ${name}: ${out.stderr.trim()}`);
  return ip;
}
