// A cluster of real consensus-node processes for the tests, on ephemeral loopback ports, each with
// a state folder of its own; and an in-process client that asks them for their status.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type ProcessPool, type RoleProcess, testLogger, waitUntil } from "@zlabs/kit/testing";
import { RaftClient } from "../internal/client.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
export const ELECTION_MIN = 400;
export const ELECTION_MAX = 800;
export const HEARTBEAT = 100;

/** The tests' timeouts: short, so elections take well under a second. */
export const FAST = ["--election-min", String(ELECTION_MIN), "--election-max", String(ELECTION_MAX), "--heartbeat", String(HEARTBEAT)];

/** A consensus node's flags: its id, the cluster, its client endpoint, its state folder, then `extra`. */
export function nodeArgs(id: string, cluster: string, client: string, dir: string, extra: string[] = FAST): string[] {
  return ["--id", id, "--cluster", cluster, "--client", client, "--dir", join(dir, id), ...extra];
}

type Status = Awaited<ReturnType<RaftClient["status"]>>;

/**
 * The leader now, from one sweep of statuses: one node leading, every node in its term and naming it
 * (the first "leader elected" line is not enough: leadership can move after it, e.g. to a node that
 * started late, heard no heartbeat in time and stood for election).
 */
export function leaderAllFollow(statuses: { index: number; status: Status }[], ids: string[]): { index: number; term: number } | undefined {
  const leading = statuses.filter((s) => s.status?.role === "leader");
  const head = leading[0];
  if (leading.length !== 1 || !head?.status) return undefined;
  const { term } = head.status;
  const all = statuses.every((s) => s.status?.term === term && s.status.leader === ids[head.index]);
  return all ? { index: head.index, term } : undefined;
}

export class TestCluster {
  readonly ids: string[];
  readonly dir = mkdtempSync(join(tmpdir(), "lab17-"));
  nodes: (RoleProcess | undefined)[] = [];
  bus: string[] = [];
  clients: string[] = [];
  client!: RaftClient;
  private readonly stop = new AbortController();

  constructor(
    private readonly procs: ProcessPool,
    size = 5,
    private readonly extraArgs: string[] = [],
  ) {
    this.ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  }

  async start(): Promise<void> {
    const endpoints = await freeTcpEndpoints(2 * this.ids.length);
    this.bus = endpoints.slice(0, this.ids.length);
    this.clients = endpoints.slice(this.ids.length);
    this.nodes = this.ids.map((_, i) => this.startNode(i));
    await Promise.all(this.nodes.map((n) => n?.waitForLog("listening", 30_000)));
    this.client = new RaftClient(this.clients, testLogger("lab17"), 1000, 60);
    void this.client.run(this.stop.signal);
  }

  get cluster(): string {
    return this.ids.map((id, i) => `${id}=${this.bus[i]}`).join(",");
  }

  startNode(i: number): RoleProcess {
    const id = this.ids[i] as string;
    const node = this.procs.start({
      labDir,
      cmd: "cmd/consensus-node.ts",
      name: id,
      args: nodeArgs(id, this.cluster, this.clients[i] as string, this.dir, [...FAST, ...this.extraArgs]),
    });
    this.nodes[i] = node;
    return node;
  }

  /** The index of the node that leads a term above `afterTerm`, as its own log says. */
  async leader(afterTerm = 0, timeoutMs = 30_000): Promise<{ index: number; term: number }> {
    return waitUntil(
      () => {
        let best: { index: number; term: number } | undefined;
        this.nodes.forEach((n, index) => {
          if (!n?.running) return;
          for (const e of n.find("leader elected")) {
            const term = e.term as number;
            if (term > afterTerm && (!best || term > best.term)) best = { index, term };
          }
        });
        return best;
      },
      { timeoutMs, what: `a leader of a term after ${afterTerm}`, everyMs: 20 },
    );
  }

  /** The leader every running node follows now (see leaderAllFollow). */
  async agreedLeader(timeoutMs = 30_000): Promise<{ index: number; term: number }> {
    return waitUntil(
      async () => {
        const running = this.nodes.map((n, i) => (n?.running ? i : -1)).filter((i) => i >= 0);
        const statuses = await Promise.all(running.map(async (index) => ({ index, status: await this.client.status(index) })));
        return leaderAllFollow(statuses, this.ids);
      },
      { timeoutMs, what: "one leader every running node follows", everyMs: 50 },
    );
  }

  /** Waits until every running node reports the same commit index and committed-log digest, at least `minCommit`. */
  async converged(minCommit: number, timeoutMs = 30_000): Promise<{ commit: number; digest: string }> {
    return waitUntil(
      async () => {
        const running = this.nodes.map((n, i) => (n?.running ? i : -1)).filter((i) => i >= 0);
        const statuses = await Promise.all(running.map((i) => this.client.status(i)));
        if (statuses.some((s) => !s)) return undefined;
        const first = statuses[0] as NonNullable<(typeof statuses)[0]>;
        const same = statuses.every((s) => s?.commit === first.commit && s.digest === first.digest && s.lastIndex === first.lastIndex);
        return same && first.commit >= minCommit ? { commit: first.commit, digest: first.digest } : undefined;
      },
      { timeoutMs, what: `every node to hold the same committed log (at least ${minCommit} entries)`, everyMs: 200 },
    );
  }

  close(): void {
    this.stop.abort();
    this.client?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
