import type { Heartbeat, HostMetrics } from "../internal/protocol.ts";

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
