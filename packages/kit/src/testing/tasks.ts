import { createLogger, type Logger } from "../log.ts";

/** A logger for in-process tests: silent unless TEST_LOG_LEVEL asks for more. */
export function testLogger(lab: string): Logger {
  return createLogger({ lab, role: "test", level: process.env.TEST_LOG_LEVEL ?? "silent" });
}

/**
 * Role objects running inside a test (`new Broker(...).run(signal)`), so afterEach can stop them
 * all: `const tasks = new Tasks(); afterEach(() => tasks.stopAll())`.
 */
export class Tasks {
  private readonly running: { controller: AbortController; done: Promise<unknown> }[] = [];

  /** Starts a task with its own AbortSignal; the returned promise is the task's own. */
  run<T>(start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const done = start(controller.signal);
    this.running.push({ controller, done: done.catch(() => {}) });
    return done;
  }

  /** Aborts every task and waits for each to finish. */
  async stopAll(): Promise<void> {
    const all = this.running.splice(0);
    for (const t of all) t.controller.abort();
    await Promise.all(all.map((t) => t.done));
  }
}
