import type { ChildProcess } from "node:child_process";
import { isAbsolute, join } from "node:path";
import { createInterface } from "node:readline";
import { USER_CWD_ENV } from "../paths.ts";
import { spawnRole } from "../spawn-role.ts";
import { DeadlineError, timed } from "./deadline.ts";

export interface LogEntry {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

/** A log line matches a string or RegExp (on msg), a set of field values, or a predicate. */
export type LogMatch = string | RegExp | Record<string, unknown> | ((entry: LogEntry) => boolean);

export interface RoleProcessSpec {
  /** The lab folder: the process runs there, as the orchestrator and VS Code run it. */
  labDir: string;
  /** The cmd/ file, relative to labDir (or absolute). */
  cmd: string;
  args?: string[];
  env?: Record<string, string>;
  /** A label for error messages; the cmd file name by default. */
  name?: string;
  /** node flags; TSX_NODE_ARGS (["--import", "tsx"]) by default. */
  nodeArgs?: string[];
  /** Runs it inside this network namespace (see netns.ts); killed by its pid like any other. */
  netns?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function matches(entry: LogEntry, match: LogMatch): boolean {
  if (typeof match === "function") return match(entry);
  if (typeof match === "string") return entry.msg === match;
  if (match instanceof RegExp) return typeof entry.msg === "string" && match.test(entry.msg);
  return Object.entries(match).every(([k, v]) => entry[k] === v);
}

function describe(match: LogMatch): string {
  if (typeof match === "function") return "a matching log line";
  if (typeof match === "string" || match instanceof RegExp) return `log line ${String(match)}`;
  return `log line ${JSON.stringify(match)}`;
}

/**
 * A cmd/ file running as a real process, its JSON log lines parsed as they come, so a test can
 * wait for "agent dead" with a deadline and kill -9 the process like a crash would.
 */
export class RoleProcess {
  readonly logs: LogEntry[] = [];
  /** Every line of stdout and stderr, as text, for error messages. */
  readonly lines: string[] = [];
  readonly exited: Promise<ExitStatus>;
  readonly name: string;
  private readonly child: ChildProcess;
  private status: ExitStatus | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly spec: RoleProcessSpec) {
    this.name = spec.name ?? spec.cmd;
    const cmd = isAbsolute(spec.cmd) ? spec.cmd : join(spec.labDir, spec.cmd);
    this.child = spawnRole(cmd, spec.args ?? [], {
      nodeArgs: spec.nodeArgs,
      netns: spec.netns,
      cwd: spec.labDir,
      env: {
        ...process.env,
        LOG_FORMAT: "json",
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "debug",
        // Relative paths in the args resolve against the lab folder, as under the demo.
        [USER_CWD_ENV]: spec.labDir,
        ZLABS_VIEW: "off",
        ...spec.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdin?.on("error", () => {});
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on("line", (line) => this.onLine(line));
    }
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.status = { code, signal };
        this.notify();
        resolve(this.status);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.status === undefined;
  }

  /** The stdin of the process (an interactive client under test). */
  get stdin(): NodeJS.WritableStream | null {
    return this.child.stdin;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (line.startsWith("{")) {
      try {
        this.logs.push(JSON.parse(line) as LogEntry);
      } catch {
        // Not a log record: kept in lines only.
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Log entries matching, from index `from` on. */
  find(match: LogMatch, from = 0): LogEntry[] {
    return this.logs.slice(from).filter((e) => matches(e, match));
  }

  /**
   * Resolves with the first entry matching from index `from` (0: any line so far counts), or
   * rejects at the deadline, or as soon as the process exits without logging it.
   */
  waitForLog(match: LogMatch, timeoutMs: number, from = 0): Promise<LogEntry> {
    return new Promise((resolve, reject) => {
      let checked = from;
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        for (; checked < this.logs.length; checked++) {
          const entry = this.logs[checked] as LogEntry;
          if (matches(entry, match)) {
            done();
            resolve(entry);
            return;
          }
        }
        if (this.status) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.status)}) before ${describe(match)}\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new DeadlineError(`${this.name}: timed out after ${timeoutMs} ms waiting for ${describe(match)}\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The last lines of output, for failure messages. */
  tail(n = 15): string {
    return this.lines
      .slice(-n)
      .map((l) => `  ${this.name} | ${l}`)
      .join("\n");
  }

  /** kill -9 by default: the crash the reliability patterns exist to survive. */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitStatus> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(graceMs = 5000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Every process a test starts, so afterEach can stop them all: `const procs = new ProcessPool();
 * afterEach(() => procs.stopAll())`. Fault tests start several, kill one, and time the recovery.
 */
export class ProcessPool {
  private readonly procs: RoleProcess[] = [];

  start(spec: RoleProcessSpec): RoleProcess {
    const proc = new RoleProcess(spec);
    this.procs.push(proc);
    return proc;
  }

  startMany(count: number, spec: (i: number) => RoleProcessSpec): RoleProcess[] {
    return Array.from({ length: count }, (_, i) => this.start(spec(i)));
  }

  get all(): readonly RoleProcess[] {
    return this.procs;
  }

  /** SIGKILL one process and wait until it is gone. */
  async crash(proc: RoleProcess): Promise<ExitStatus> {
    return proc.kill("SIGKILL");
  }

  /**
   * Injects a fault and measures, in ms, how long until the system shows it has recovered:
   * `await procs.recoveryTime(() => procs.crash(worker), () => client.waitForLog("reply", 5000))`.
   */
  async recoveryTime(fault: () => Promise<unknown> | unknown, recovered: () => Promise<unknown>): Promise<number> {
    await fault();
    return timed(recovered);
  }

  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(this.procs.splice(0).map((p) => p.stop(graceMs)));
  }
}

/** Whether a process with this pid still exists: a test's check that nothing was left behind. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
