import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DEFAULT_GRACE_MS, STDIN_CONTROL_ENV } from "./lifecycle.ts";
import { instanceName, type LabManifest, planInstances, type RoleSpec } from "./manifest.ts";
import { USER_CWD_ENV } from "./paths.ts";
import type { DemoScreen } from "./screen.ts";
import { spawnRole } from "./spawn-role.ts";
import type { Tone } from "./terminal.ts";
import { isViewMessage, VIEW_ENV } from "./view.ts";

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92];
const SELF = "zlabs";

export type InstanceState = "running" | "stopping" | "exited";

export interface InstanceInfo {
  name: string;
  role: string;
  pid: number | undefined;
  state: InstanceState;
  /** How the last run ended: "exit code 0", "killed by SIGKILL"... */
  ended: string | undefined;
  /** What a person should read: "running", "stopping", "killed by SIGKILL", "exit code 1". */
  status: string;
  restarts: number;
}

export interface OrchestratorOptions {
  /** Where every prefixed line goes (stdout by default) when there is no screen. */
  out?: NodeJS.WritableStream;
  /**
   * On a terminal: the screen that shows the roles' live views above their events. The children
   * then log JSON (the screen renders each record as one line) and send their views over IPC.
   * Without it, every output line is printed as it is, prefixed with the instance name.
   */
  screen?: DemoScreen;
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
    const status = this.state === "exited" ? (this.ended ?? "not started") : this.state;
    return {
      name: this.name,
      role: this.role,
      pid: this.child?.pid,
      state: this.state,
      ended: this.ended,
      status,
      restarts: this.restarts,
    };
  }
}

/** "{n}" is the instance number, "{n+4}" the number plus 4 (a port per instance), "{name}" the instance name. */
export function expandArgs(args: readonly string[], n: number, name: string): string[] {
  return args.map((a) => a.replace(/\{n(?:\+(\d+))?\}/g, (_, plus?: string) => String(n + Number(plus ?? 0))).replaceAll("{name}", name));
}

/** "killed by SIGKILL" when a signal ended it, else "exit code N". */
export function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/**
 * Runs a lab's demo: every role of its manifest as a child process. With a screen (a terminal),
 * the roles' views and their events as human lines are drawn on it; without, each output line is
 * printed prefixed with the instance name. A role that dies is reported and the rest keep running;
 * the demo ends when the main role exits (with its exit code) or when stop() is called.
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
    // Main roles start last, so the servers they talk to are already up in the common case.
    for (const p of planInstances(lab)) this.instances.push(new Instance(p.name, p.role, p.n, p.spec));
  }

  private get screen(): DemoScreen | undefined {
    return this.options.screen;
  }

  /** The header line and instance list of the screen follow the instances' states. */
  private refreshScreen(): void {
    const screen = this.screen;
    if (!screen) return;
    const counts = new Map<string, number>();
    for (const i of this.instances) {
      const key = i.state === "exited" ? "ended" : i.state;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const status = [...counts].map(([k, v]) => `${v} ${k}`).join(" · ");
    screen.setHeader(`${this.lab.name}: ${this.lab.title} · ${this.lab.pattern}`, status);
    screen.setInstances(this.instances.map((i) => i.name));
  }

  /** Starts every instance; resolves with the exit code once everything has stopped. */
  start(): Promise<number> {
    this.refreshScreen();
    this.say(`${this.lab.name}: ${this.lab.title} · ${this.lab.pattern}`);
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

  /** The roles the manifest marks "scalable": the ones `a` may start more instances of. */
  scalableRoles(): string[] {
    return this.roles().filter((r) => this.lab.roles[r]?.scalable);
  }

  /** What the key prompt shows. On the screen it stays in view until answered; without one it is printed. */
  prompt(text: string | undefined): void {
    if (this.screen) this.screen.setPrompt(text);
    else if (text) this.say(text);
  }

  /** SIGKILL, as a crash would: no goodbye, no cleanup. */
  kill(name: string): boolean {
    const inst = this.find(name);
    if (!inst?.child || inst.state === "exited") return false;
    inst.expectedEnd = "on request";
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

  /**
   * Starts one more instance of a scalable role, with the lowest instance number no running
   * instance has (so {n} in its args gives it a port or id of its own, within "max"); an ended
   * instance with that number is started again. Returns its name, or undefined (and says why).
   */
  add(role: string): string | undefined {
    const spec = this.lab.roles[role];
    if (!spec || this.stopping) return undefined;
    if (!spec.scalable) {
      this.say(`${role} runs once only (its port or identity is fixed; the manifest does not mark it "scalable")`);
      return undefined;
    }
    const ofRole = this.instances.filter((i) => i.role === role);
    const busy = new Set(ofRole.filter((i) => i.state !== "exited").map((i) => i.n));
    let n = 1;
    while (busy.has(n)) n++;
    if (spec.max !== undefined && n > spec.max) {
      this.say(`${role} already runs ${busy.size} instances, its most ("max": ${spec.max} in the manifest)`);
      return undefined;
    }
    let inst = ofRole.find((i) => i.n === n);
    if (inst) inst.restarts += 1;
    else {
      inst = new Instance(instanceName(role, n, spec.count ?? 1), role, n, spec);
      this.instances.push(inst);
    }
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
      this.say(`${inst.name} did not stop within ${this.graceMs} ms: SIGKILL`, "warn");
      child.kill("SIGKILL");
    }, this.graceMs);
  }

  private launch(inst: Instance): void {
    const args = expandArgs(inst.spec.args ?? [], inst.n, inst.name);
    const screen = this.screen;
    const env: NodeJS.ProcessEnv = {
      ...(this.options.env ?? process.env),
      ...inst.spec.env,
      [STDIN_CONTROL_ENV]: "stdin",
      ZLABS_INSTANCE: inst.name,
      // The screen renders each JSON record as one human line; without a screen the caller chooses.
      LOG_FORMAT: screen ? "json" : (this.options.childLogFormat ?? "json"),
      [VIEW_ENV]: screen ? "ipc" : "off",
      // Every argument the demo passes comes from the manifest, written relative to the lab folder.
      [USER_CWD_ENV]: this.lab.dir,
    };
    if (this.color && !screen) env.FORCE_COLOR = "1";
    const child = spawnRole(join(this.lab.dir, inst.spec.cmd), args, {
      nodeArgs: this.options.nodeArgs,
      cwd: this.lab.dir,
      env,
      // With a screen, a fourth channel (node IPC) carries the live views apart from the log lines.
      stdio: screen ? ["pipe", "pipe", "pipe", "ipc"] : ["pipe", "pipe", "pipe"],
      // Own process group: a Ctrl-C at the terminal reaches only us, and we stop the children in order.
      detached: process.platform !== "win32",
    });
    inst.child = child;
    inst.state = "running";
    inst.expectedEnd = undefined;
    inst.ended = undefined;
    this.refreshScreen();
    child.stdin?.on("error", () => {});
    if (screen) {
      child.on("message", (message) => {
        if (isViewMessage(message)) screen.setView(inst.name, message.zlabsView);
      });
    }
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
        this.screen?.noteView(inst.name, inst.ended);
        this.refreshScreen();
        this.onEnded(inst, code, signal);
        resolve();
      });
    });
  }

  private onEnded(inst: Instance, code: number | null, signal: NodeJS.Signals | null): void {
    if (inst.expectedEnd) {
      if (!this.stopping || inst.ended !== "exit code 0")
        this.say(`${inst.name} ${signal ? inst.ended : `ended with ${inst.ended}`} (${inst.expectedEnd})`, signal ? "warn" : undefined);
      return;
    }
    if (inst.spec.main) {
      if (code !== 0 && this.mainExitCode === 0) this.mainExitCode = code ?? 1;
      this.say(`${inst.name} finished (${inst.ended})`, code === 0 ? "good" : "bad");
      const mains = this.instances.filter((i) => i.spec.main);
      if (mains.every((i) => i.state === "exited")) void this.stop("the main role finished");
      return;
    }
    // A role may finish its work and leave (a worker told to stop by its pattern): not a death.
    if (code === 0) this.say(`${inst.name} finished (exit code 0); the other roles keep running`);
    else this.say(`${inst.name} DIED (${describeEnd(code, signal)}); the other roles keep running`, "bad");
  }

  private width(): number {
    return Math.max(SELF.length, ...this.instances.map((i) => i.name.length));
  }

  private paint(text: string, code: number): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private colorOf(name: string): number {
    const roleIndex = this.roles().indexOf(this.find(name)?.role ?? "");
    return COLORS[roleIndex % COLORS.length] ?? 37;
  }

  private print(name: string, line: string): void {
    if (this.screen) {
      this.screen.log(name, this.colorOf(name), line);
      return;
    }
    const prefix = this.paint(name.padEnd(this.width()), this.colorOf(name));
    this.out.write(`${prefix} | ${line}\n`);
  }

  /** A line from the orchestrator itself: in the screen's events (in a tone's colour), or prefixed "zlabs". */
  say(message: string, tone?: Tone): void {
    if (this.screen) {
      this.screen.log(SELF, 1, message, tone);
      return;
    }
    this.out.write(`${this.paint(SELF.padEnd(this.width()), 1)} | ${message}\n`);
  }
}
