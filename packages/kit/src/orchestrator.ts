import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DEFAULT_GRACE_MS, STDIN_CONTROL_ENV } from "./lifecycle.ts";
import type { LabManifest, RoleSpec } from "./manifest.ts";

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92];
const SELF = "zlabs";

export type InstanceState = "running" | "stopping" | "exited";

export interface InstanceInfo {
  name: string;
  role: string;
  pid: number | undefined;
  state: InstanceState;
  /** How the last run ended: "exit code 0", "signal SIGKILL"... */
  ended: string | undefined;
  restarts: number;
}

export interface OrchestratorOptions {
  /** Where every prefixed line goes (stdout by default). */
  out?: NodeJS.WritableStream;
  color?: boolean;
  /** LOG_FORMAT for the children: pretty for a person, json for a program reading the output. */
  childLogFormat?: "pretty" | "json";
  /** How long a child may take to stop after SIGTERM / stdin closing before SIGKILL. */
  graceMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The node flags that run a cmd/ file (tests override them to run plain .mjs fixtures). */
  nodeArgs?: string[];
}

/** One running (or ended) process of a role: "av-engine-2". */
class Instance {
  child: ChildProcess | undefined;
  state: InstanceState = "exited";
  ended: string | undefined;
  exitCode: number | null = null;
  restarts = 0;
  /** Set when the end was asked for (stop, kill, restart), so it is not reported as a crash. */
  expectedEnd: string | undefined;
  exited: Promise<void> = Promise.resolve();
  killTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly role: string,
    readonly n: number,
    readonly spec: RoleSpec,
  ) {}

  info(): InstanceInfo {
    return { name: this.name, role: this.role, pid: this.child?.pid, state: this.state, ended: this.ended, restarts: this.restarts };
  }
}

/** "{n}" is the instance number, "{n+4}" the number plus 4 (a port per instance), "{name}" the instance name. */
export function expandArgs(args: readonly string[], n: number, name: string): string[] {
  return args.map((a) => a.replace(/\{n(?:\+(\d+))?\}/g, (_, plus?: string) => String(n + Number(plus ?? 0))).replaceAll("{name}", name));
}

function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

/**
 * Runs a lab's demo: every role of its manifest as a child process, each output line prefixed
 * with the instance name. A role that dies is reported and the rest keep running; the demo ends
 * when the main role exits (with its exit code) or when stop() is called.
 */
export class Orchestrator {
  private readonly instances: Instance[] = [];
  private readonly out: NodeJS.WritableStream;
  private readonly color: boolean;
  private readonly graceMs: number;
  private stopping: Promise<void> | undefined;
  private mainExitCode = 0;
  private finish!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(
    readonly lab: LabManifest,
    private readonly options: OrchestratorOptions = {},
  ) {
    this.out = options.out ?? process.stdout;
    this.color = options.color ?? false;
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    const roleNames = Object.keys(lab.roles);
    // Main roles start last, so the servers they talk to are already up in the common case.
    roleNames.sort((a, b) => Number(Boolean(lab.roles[a]?.main)) - Number(Boolean(lab.roles[b]?.main)));
    for (const role of roleNames) {
      const spec = lab.roles[role] as RoleSpec;
      const count = spec.count ?? 1;
      for (let n = 1; n <= count; n++) this.instances.push(new Instance(count > 1 ? `${role}-${n}` : role, role, n, spec));
    }
  }

  /** Starts every instance; resolves with the exit code once everything has stopped. */
  start(): Promise<number> {
    this.say(`${this.lab.name}: ${this.lab.title} (${this.lab.pattern})`);
    for (const inst of this.instances) this.launch(inst);
    if (!this.instances.some((i) => i.spec.main)) this.say("no main role: running until you stop it");
    return this.done;
  }

  list(): InstanceInfo[] {
    return this.instances.map((i) => i.info());
  }

  roles(): string[] {
    return Object.keys(this.lab.roles);
  }

  /** SIGKILL, as a crash would: no goodbye, no cleanup. */
  kill(name: string): boolean {
    const inst = this.find(name);
    if (!inst?.child || inst.state === "exited") return false;
    inst.expectedEnd = "killed with SIGKILL on request";
    inst.child.kill("SIGKILL");
    return true;
  }

  /** Stops the instance if it runs (gracefully), then starts it again with the same name. */
  async restart(name: string): Promise<boolean> {
    const inst = this.find(name);
    if (!inst || this.stopping) return false;
    if (inst.state !== "exited") {
      inst.expectedEnd = "stopped for a restart";
      this.requestEnd(inst);
      await inst.exited;
    }
    if (this.stopping) return false;
    inst.restarts += 1;
    this.launch(inst);
    return true;
  }

  /** Starts one more instance of a role; returns its name. */
  add(role: string): string | undefined {
    const spec = this.lab.roles[role];
    if (!spec || this.stopping) return undefined;
    const n = Math.max(0, ...this.instances.filter((i) => i.role === role).map((i) => i.n)) + 1;
    const inst = new Instance(`${role}-${n}`, role, n, spec);
    this.instances.push(inst);
    this.launch(inst);
    return inst.name;
  }

  /** Stops every instance (SIGTERM and stdin closing, SIGKILL after the grace period). */
  stop(reason = "stop requested"): Promise<void> {
    if (!this.stopping) {
      this.say(`stopping (${reason})`);
      this.stopping = (async () => {
        const running = this.instances.filter((i) => i.state !== "exited");
        for (const inst of running) {
          inst.expectedEnd ??= "stopped";
          this.requestEnd(inst);
        }
        await Promise.all(this.instances.map((i) => i.exited));
        this.say("all roles stopped");
        this.finish(this.mainExitCode);
      })();
    }
    return this.stopping;
  }

  /** Last resort (a second Ctrl-C, or the orchestrator itself exiting): SIGKILL everything now. */
  killAll(): void {
    for (const inst of this.instances) {
      if (inst.child && inst.state !== "exited") inst.child.kill("SIGKILL");
    }
  }

  private find(name: string): Instance | undefined {
    return this.instances.find((i) => i.name === name);
  }

  private requestEnd(inst: Instance): void {
    const child = inst.child;
    if (!child || inst.state === "exited") return;
    inst.state = "stopping";
    child.stdin?.end();
    if (process.platform !== "win32") child.kill("SIGTERM");
    inst.killTimer = setTimeout(() => {
      if (inst.state === "exited") return;
      this.say(`${inst.name} did not stop within ${this.graceMs} ms: SIGKILL`);
      child.kill("SIGKILL");
    }, this.graceMs);
  }

  private launch(inst: Instance): void {
    const args = expandArgs(inst.spec.args ?? [], inst.n, inst.name);
    const env: NodeJS.ProcessEnv = {
      ...(this.options.env ?? process.env),
      ...inst.spec.env,
      [STDIN_CONTROL_ENV]: "stdin",
      ZLABS_INSTANCE: inst.name,
      LOG_FORMAT: this.options.childLogFormat ?? "json",
    };
    if (this.color) env.FORCE_COLOR = "1";
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? ["--import", "tsx"]), join(this.lab.dir, inst.spec.cmd), ...args], {
      cwd: this.lab.dir,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      // Own process group: a Ctrl-C at the terminal reaches only us, and we stop the children in order.
      detached: process.platform !== "win32",
    });
    inst.child = child;
    inst.state = "running";
    inst.expectedEnd = undefined;
    inst.ended = undefined;
    child.stdin?.on("error", () => {});
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on("line", (line) => this.print(inst.name, line));
    }
    inst.exited = new Promise((resolve) => {
      child.on("error", (err) => {
        this.say(`${inst.name} could not start: ${err.message}`);
      });
      child.on("close", (code, signal) => {
        clearTimeout(inst.killTimer);
        inst.state = "exited";
        inst.exitCode = code;
        inst.ended = describeEnd(code, signal);
        this.onEnded(inst, code, signal);
        resolve();
      });
    });
  }

  private onEnded(inst: Instance, code: number | null, signal: NodeJS.Signals | null): void {
    if (inst.expectedEnd) {
      if (!this.stopping || inst.ended !== "exit code 0") this.say(`${inst.name} ended (${inst.ended}; ${inst.expectedEnd})`);
      return;
    }
    if (inst.spec.main) {
      if (code !== 0 && this.mainExitCode === 0) this.mainExitCode = code ?? 1;
      this.say(`${inst.name} finished (${inst.ended})`);
      const mains = this.instances.filter((i) => i.spec.main);
      if (mains.every((i) => i.state === "exited")) void this.stop("the main role finished");
      return;
    }
    // A role may finish its work and leave (a worker told to stop by its pattern): not a death.
    if (code === 0) this.say(`${inst.name} finished (exit code 0); the other roles keep running`);
    else this.say(`${inst.name} DIED (${describeEnd(code, signal)}); the other roles keep running`);
  }

  private width(): number {
    return Math.max(SELF.length, ...this.instances.map((i) => i.name.length));
  }

  private paint(text: string, code: number): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private print(name: string, line: string): void {
    const roleIndex = this.roles().indexOf(this.find(name)?.role ?? "");
    const prefix = this.paint(name.padEnd(this.width()), COLORS[roleIndex % COLORS.length] ?? 37);
    this.out.write(`${prefix} | ${line}\n`);
  }

  say(message: string): void {
    this.out.write(`${this.paint(SELF.padEnd(this.width()), 1)} | ${message}\n`);
  }
}
