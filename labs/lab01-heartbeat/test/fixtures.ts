import { testLogger, withDeadline } from "@zlabs/kit/testing";
import { Subscriber } from "zeromq";
import { Dashboard, type DashboardConfig } from "../internal/dashboard.ts";
import type { LivenessEvent } from "../internal/liveness.ts";
import type { Heartbeat, HostMetrics } from "../internal/protocol.ts";

export const testLog = testLogger("lab01");
const WAIT_MS = 10_000;

export const METRICS: HostMetrics = { cpu: 0.1, memUsedBytes: 1, memTotalBytes: 4, load1: 0.5, load5: 0.4, load15: 0.3, uptimeSec: 100 };

export function heartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    agent: "node-a",
    rack: "rack1",
    incarnation: "inc-1",
    seq: 1,
    sentAt: 0,
    intervalMs: 1000,
    level: "ok",
    metrics: METRICS,
    ...overrides,
  };
}

/** A dashboard running in this process, with its events observable. */
export class DashboardUnderTest {
  readonly events: LivenessEvent[] = [];
  readonly malformed: string[] = [];
  readonly dashboard: Dashboard;
  private readonly controller = new AbortController();
  readonly running: Promise<void>;
  private wakers = new Set<() => void>();

  constructor(config: Partial<DashboardConfig> & { connect: string[] }) {
    this.dashboard = new Dashboard({ racks: [], levels: [], liveness: 3, tickMs: 20, ...config }, testLog, {
      onEvent: (e) => {
        this.events.push(e);
        this.wake();
      },
      onMalformed: (reason) => {
        this.malformed.push(reason);
        this.wake();
      },
      publish: () => {},
    });
    this.running = this.dashboard.run(this.controller.signal);
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Waits until the condition holds, re-checking at every event and every 25 ms. */
  until(condition: () => boolean, what: string, beat?: () => Promise<unknown>): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const check = () => {
        if (condition()) {
          this.wakers.delete(check);
          clearInterval(pump);
          resolve();
        }
      };
      // Publishers keep beating while we wait: PUB-SUB drops whatever is sent before the
      // subscription has reached the publisher (the slow joiner), so one beat is not enough.
      const pump = setInterval(() => {
        void beat?.();
        check();
      }, 25);
      this.wakers.add(check);
      check();
    });
    return withDeadline(done, WAIT_MS, what);
  }

  has(kind: LivenessEvent["kind"], agent: string): boolean {
    return this.events.some((e) => e.kind === kind && e.agent.agent === agent);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }
}

/** A valid exchange with an agent: a SUB subscribed to every heartbeat receives one, within the deadline. */
export async function receivesHeartbeat(endpoint: string): Promise<void> {
  const sub = new Subscriber({ linger: 0 });
  try {
    sub.connect(endpoint);
    sub.subscribe("hb.");
    const frames = await withDeadline(sub.receive(), WAIT_MS, `a heartbeat from ${endpoint}`);
    if (frames.length !== 2 || !String(frames[0]).startsWith("hb.")) throw new Error(`not a heartbeat: ${frames.length} frames`);
  } finally {
    sub.close();
  }
}
