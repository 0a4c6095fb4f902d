import type { Logger } from "pino";
import { EXIT_BAD_CONFIG, UsageError } from "./config.ts";

/** How long a role may take to stop after the first stop request before it is forced out. */
export const DEFAULT_GRACE_MS = 3000;
/** Linger for sockets closed at shutdown: long enough to flush a goodbye, short enough never to hang. */
export const SHUTDOWN_LINGER_MS = 100;
/** The orchestrator sets this so a role also stops when its stdin closes (Windows has no SIGTERM). */
export const STDIN_CONTROL_ENV = "ZLABS_CONTROL";

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", ...(process.platform === "win32" ? (["SIGBREAK"] as const) : [])];

export interface MainOptions {
  graceMs?: number;
}

/** What every zeromq socket offers for shutdown; kept structural so the kit needs no zeromq. */
export interface Closable {
  linger: number;
  readonly closed: boolean;
  close(): void;
}

export function closeSockets(...sockets: (Closable | undefined)[]): void {
  for (const socket of sockets) {
    if (!socket || socket.closed) continue;
    socket.linger = SHUTDOWN_LINGER_MS;
    socket.close();
  }
}

/** Resolves when the signal aborts: `await untilAborted(signal)` as the body of a long-running role. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** Sleeps, but wakes early (resolving false) when the signal aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs a role's main function until it returns, turning stop requests into an AbortSignal.
 *
 * - The first SIGINT/SIGTERM (or stdin closing, under the orchestrator) aborts the signal; main is
 *   expected to close its sockets and return. If it has not returned within graceMs, exit 1.
 * - A second signal exits at once (130).
 * - A UsageError thrown by main (a missing file, an endpoint in use) prints one line and exits 2.
 * - Any other error thrown by main, or anywhere unhandled, is logged and exits 1.
 * - When main returns, the process exits by itself; if stray handles keep it alive past graceMs,
 *   it is forced out with main's exit code and a warning.
 */
export function runMain(log: Logger, main: (signal: AbortSignal) => Promise<unknown>, options: MainOptions = {}): void {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const controller = new AbortController();
  let signals = 0;
  let graceTimer: NodeJS.Timeout | undefined;

  const requestStop = (reason: string) => {
    if (controller.signal.aborted) return;
    log.info({ reason }, "stopping");
    controller.abort(reason);
    graceTimer = setTimeout(() => {
      log.error({ graceMs }, "did not stop within the grace period; exiting");
      process.exit(1);
    }, graceMs);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, "second signal; exiting now");
      process.exit(130);
    }
    requestStop(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);

  const fatal = (err: unknown) => {
    if (err instanceof UsageError) {
      const role = (log.bindings() as { role?: string }).role ?? "error";
      process.stderr.write(`${role}: ${err.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    log.fatal({ err }, "unhandled error");
    process.exit(1);
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);

  const stdinControl = process.env[STDIN_CONTROL_ENV] === "stdin";
  if (stdinControl) {
    process.stdin.on("data", (chunk: Buffer) => {
      if (chunk.toString().split(/\r?\n/).includes("stop")) requestStop("stop requested on stdin");
    });
    process.stdin.on("end", () => requestStop("stdin closed"));
    process.stdin.on("error", () => requestStop("stdin closed"));
  }

  main(controller.signal).then((code) => {
    const exitCode = typeof code === "number" ? code : 0;
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    if (graceTimer) clearTimeout(graceTimer);
    if (stdinControl) process.stdin.destroy();
    process.exitCode = exitCode;
    // Peak memory and CPU time of the whole run, for benchmarks and for the curious.
    const usage = process.resourceUsage();
    const cpuSec = Math.round((usage.userCPUTime + usage.systemCPUTime) / 1e4) / 100;
    log.info({ code: exitCode, maxRssMiB: Math.round(usage.maxRSS / 1024), cpuSec }, "exiting");
    setTimeout(() => {
      log.warn("handles still open after main returned; forcing exit");
      process.exit(exitCode);
    }, graceMs).unref();
  }, fatal);
}
