// What the process tests share: a free UDP port for a test's own beacon domain, nodes started with
// short intervals, and a node's status asked through its mailbox.
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ProcessPool, type RoleProcess, waitUntil } from "@zlabs/kit/testing";
import { ask } from "../internal/gossip-admin.ts";
import type { NodeStatus } from "../internal/protocol.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
export const WAIT_MS = 30_000;

/** Short intervals for the tests: a probe every 200 ms, dead 600 ms after suspicion. */
export const FAST = {
  probe: 200,
  ackTimeout: 80,
  suspect: 600,
  antiEntropy: 200,
  sync: 500,
  beacon: 200,
  join: 300,
  outlier: 500,
};
export const FAST_ARGS = Object.entries(FAST).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export interface NodeSpec {
  id: string;
  rank: number;
  beaconPort: number;
  /** The store's folder: the node runs there so `.store` lands in it. */
  extra?: string[];
}

/** A gossip node as a real process, found by beacon on the test's own UDP port. */
export function startNode(procs: ProcessPool, store: string, spec: NodeSpec): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/gossip-node.ts",
    name: spec.id,
    args: ["--id", spec.id, "--rank", String(spec.rank), "--beacon-port", String(spec.beaconPort), ...FAST_ARGS, ...(spec.extra ?? [])],
    env: { LAB23_STORE_DIR: store },
  });
}

/** The mailbox a node logged in its "listening" line. */
export async function mailboxOf(node: RoleProcess): Promise<string> {
  const line = await node.waitForLog("listening", WAIT_MS);
  return line.mailbox as string;
}

export async function status(mailbox: string): Promise<NodeStatus> {
  const reply = await ask(mailbox, { op: "status" }, 10_000);
  if (!reply.status) throw new Error("no status");
  return reply.status;
}

/** Waits until every node's digest is the same (and each knows the others as alive). */
export async function converged(mailboxes: string[], timeoutMs = WAIT_MS): Promise<NodeStatus[]> {
  return waitUntil(
    async () => {
      const all = await Promise.all(mailboxes.map(status));
      const digests = new Set(all.map((s) => s.digest));
      const members = all.every((s) => s.members.filter((m) => m.state === "alive").length >= mailboxes.length - 1);
      return digests.size === 1 && members ? all : undefined;
    },
    { timeoutMs, what: "every digest identical", everyMs: 200 },
  );
}
