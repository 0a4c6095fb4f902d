// Starting ring nodes as real processes on a beacon port of their own, with short intervals.
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { type ProcessPool, type RoleProcess, testLogger } from "@zlabs/kit/testing";
import { DhtClient } from "../internal/client-put-get.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
export const WAIT_MS = 30_000;
export const log = testLogger("lab14");

/** A UDP port free a moment ago: each test's ring has a beacon port of its own. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const udp = createSocket("udp4");
    udp.on("error", reject);
    udp.bind(0, "127.0.0.1", () => {
      const { port } = udp.address();
      udp.close(() => resolve(port));
    });
  });
}

/**
 * Fast timings for tests: beacons every 200 ms, a silent peer gone after 1.5 s. A peer's answer is
 * waited for 3 s: a write counts the replicas that acknowledged in time, and six node processes on a
 * loaded machine can leave one unscheduled for longer than half a second.
 */
export const FAST = ["--beacon-ms", "200", "--peer-expiry", "1500", "--peer-timeout", "3000", "--grace", "3000"];

export interface RingNodeProcess {
  proc: RoleProcess;
  id: string;
  endpoint: string;
  name: string;
}

export async function startNode(procs: ProcessPool, beaconPort: number, name: string, extra: string[] = []): Promise<RingNodeProcess> {
  const proc = procs.start({
    labDir,
    cmd: "cmd/dht-node.ts",
    name,
    args: ["--name", name, "--bind", "tcp://127.0.0.1:*", "--beacon-port", String(beaconPort), ...FAST, ...extra],
  });
  // Starting node with tsx takes a while when the machine is busy: twice the usual deadline.
  const listening = await proc.waitForLog("listening", 2 * WAIT_MS);
  const up = await proc.waitForLog("node up", WAIT_MS);
  return { proc, id: up.id as string, endpoint: listening.mailbox as string, name };
}

/** Nodes started together; resolves once every one of them has all of them in its view. */
export async function startRing(
  procs: ProcessPool,
  beaconPort: number,
  count: number,
  prefix = "n",
  extra: string[] = [],
): Promise<RingNodeProcess[]> {
  const nodes = await Promise.all(Array.from({ length: count }, (_, i) => startNode(procs, beaconPort, `${prefix}${i + 1}`, extra)));
  await Promise.all(nodes.map((n) => waitForView(n, count)));
  return nodes;
}

/** Until the node's view holds `size` nodes (the last join or leave it logged says so). */
export async function waitForView(node: RingNodeProcess, size: number, from = 0): Promise<void> {
  await node.proc.waitForLog((e) => (e.msg === "peer joined the view" || e.msg === "peer left the view") && e.view === size, WAIT_MS, from);
}

export function client(nodes: RingNodeProcess[], attempts = 4): DhtClient {
  return new DhtClient(
    {
      nodes: nodes.map((n) => n.endpoint),
      beaconPort: 0,
      beaconAddress: "127.255.255.255",
      timeoutMs: 3000,
      attempts,
      ops: 0,
      rate: 0,
      keys: 1,
      putRatio: 0,
      inFlight: 1,
      seed: 1,
    },
    log,
  );
}
