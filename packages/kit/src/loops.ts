import type { Logger } from "pino";
import { UsageError } from "./config.ts";
import { type Closable, closeSockets } from "./lifecycle.ts";

export interface LoopsOptions {
  /** Closed when the signal aborts (which ends their loops) and again when the loops are done. */
  sockets: (Closable | undefined)[];
  /** Periodic duties (heartbeats, sweeps) for as long as the loops run. */
  every?: { ms: number; run: () => void }[];
  /** Called on abort too: wake a loop that waits on something other than a socket. */
  onAbort?: () => void;
  /** Where a periodic duty that throws is reported (it runs again at its next tick). */
  log?: Logger;
}

/**
 * Runs a role's socket loops together until they end: the shape of every broker and proxy. When
 * the signal aborts, the sockets are closed, which ends the loops; an error a loop throws because
 * its socket was closed under it is part of stopping, any other error is the role's.
 */
export async function runLoops(signal: AbortSignal, options: LoopsOptions, ...loops: (() => Promise<unknown>)[]): Promise<void> {
  const onAbort = () => {
    closeSockets(...options.sockets);
    options.onAbort?.();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  if (signal.aborted) onAbort();
  const tick = (duty: () => void) => () => {
    try {
      duty();
    } catch (err) {
      options.log?.error({ err }, "periodic duty failed");
    }
  };
  const timers = (options.every ?? []).map((t) => setInterval(tick(t.run), t.ms));
  try {
    await Promise.all(
      loops.map((loop) =>
        loop().catch((err: unknown) => {
          if (!signal.aborted) throw err;
        }),
      ),
    );
  } finally {
    for (const t of timers) clearInterval(t);
    signal.removeEventListener("abort", onAbort);
    closeSockets(...options.sockets);
  }
}

/** What a zeromq socket offers for receiving; structural, so the kit's runtime needs no zeromq. */
export interface Receiver {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

/** Counts a receive loop keeps: messages taken, and messages whose handling failed and were dropped. */
export interface LoopStats {
  received: number;
  failed: number;
}

export interface ReceiveLoopOptions {
  log: Logger;
  /** The socket's name in log lines: "backend", "engines". */
  name: string;
  stats?: LoopStats;
}

/** libzmq can wake a reader for a message it then discards (a REP socket given no envelope): try again. */
const RETRY_RECEIVE = new Set(["EAGAIN"]);

/**
 * Receives messages one at a time and hands each to `handle`, until the socket closes or the signal
 * aborts. The error boundary is per message: a handler that throws on a peer's value is logged,
 * counted and the loop goes on; one message can never end a role. Only an error of the socket
 * itself (not a spurious EAGAIN) ends the loop, and that only while the role is not stopping.
 */
export async function receiveLoop(
  socket: Receiver,
  signal: AbortSignal,
  handle: (frames: Buffer[]) => unknown,
  options: ReceiveLoopOptions,
): Promise<void> {
  const stats = options.stats ?? { received: 0, failed: 0 };
  while (!signal.aborted && !socket.closed) {
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      if (signal.aborted || socket.closed) return;
      if (RETRY_RECEIVE.has((err as { code?: string }).code ?? "")) continue;
      throw err;
    }
    stats.received += 1;
    try {
      await handle(frames);
    } catch (err) {
      if (signal.aborted || socket.closed) return;
      stats.failed += 1;
      options.log.warn({ err, socket: options.name, frames: frames.length, failed: stats.failed }, "message dropped: its handling failed");
    }
  }
}

/**
 * One waiter woken by someone else: a loop that must wait for "a worker is free" or "the outbox has
 * room" waits here, and whoever makes it true calls wake(). The signal's abort wakes it too.
 */
export class Wakeup {
  private waiters: (() => void)[] = [];

  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Until `ready()` holds (checked again after each wake), or the signal aborts. */
  async until(ready: () => boolean, signal?: AbortSignal): Promise<void> {
    while (!ready() && !signal?.aborted) await this.wait(signal);
  }

  /** Whether a loop waits now: a hot path can skip wake() when nobody does. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** What a zeromq socket offers for binding; structural. */
export interface Bindable {
  bind(endpoint: string): Promise<void>;
  readonly lastEndpoint: string | null;
}

/**
 * Binds each socket to its endpoint and logs them all as one "listening" line; returns the endpoints
 * as bound (a `tcp://127.0.0.1:*` becomes the port the system chose). An endpoint that cannot be
 * bound (in use, not an address of this host) is a UsageError: one line, exit 2, no stack trace.
 */
export async function bindAll<K extends string>(log: Logger, sockets: Record<K, [Bindable, string]>): Promise<Record<K, string>> {
  const bound = {} as Record<K, string>;
  for (const [name, [socket, endpoint]] of Object.entries(sockets) as [K, [Bindable, string]][]) {
    try {
      await socket.bind(endpoint);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === "EADDRINUSE" ? "the address is in use (is another instance running?)" : (err as Error).message;
      throw new UsageError(`cannot bind ${name} to ${endpoint}: ${why}`);
    }
    bound[name] = socket.lastEndpoint ?? endpoint;
  }
  log.info(bound as Record<string, string>, "listening");
  return bound;
}
