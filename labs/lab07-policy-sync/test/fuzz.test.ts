// Every bound socket of every role fuzzed with the kit's helper against the real processes, and the
// SUBs that connect (a firewall node's, a passive master's) through a hostile PUB the fuzzer binds.
// After each fuzz the process must be alive, within its memory bound, and still serve.
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, SocketJar, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Publisher, Router } from "zeromq";
import { CloneClient, chpServer, MAX_FRAME_BYTES } from "../internal/clone-client.ts";
import { kv } from "../internal/kvmsg.ts";
import { askNode } from "../internal/policy-admin.ts";
import { fromSnapshotClient, hugz, kthxbai, MAX_QUERY_BYTES } from "../internal/protocol.ts";
import { Updater } from "../internal/updater.ts";
import { freeChpEndpoint, plus } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const log = testLogger("lab07");
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const FAST = ["--heartbeat", "100", "--hugz", "100", "--ttl-sweep", "100", "--server-ttl", "500"];
const procs = new ProcessPool();
const jar = new SocketJar();
afterEach(async () => {
  jar.closeAll();
  await procs.stopAll();
});

let probes = 0;

/**
 * A master still serves: a snapshot (the snapshot ROUTER; on a lone primary also the vote that makes
 * it active), then a KVSET published back (collector → publisher) and applied by that client.
 */
async function probeMaster(base: string): Promise<void> {
  const stop = new AbortController();
  const u = new Updater([chpServer(base)], log);
  const c = new CloneClient({ servers: [chpServer(base)], subtree: "/probe/", serverTtlMs: 5000, maxKeys: 10, name: "probe" }, log);
  const running = [u.run(stop.signal), c.run(stop.signal)];
  try {
    await waitUntil(() => c.synced, { timeoutMs: 10_000, what: "the probe's snapshot" });
    await u.untilListening(1, 10_000, stop.signal);
    const value = `allow tcp any any any ${++probes}`;
    const ack = await u.set(kv("/probe/x", value), 10_000);
    if (!ack) throw new Error("the probe's update was not published");
    await waitUntil(() => c.map.get("/probe/x")?.value.toString() === value, {
      timeoutMs: 10_000,
      what: "the probe's update at its client",
    });
  } finally {
    stop.abort();
    await Promise.all(running);
  }
}

/** The lone primary the master's bound sockets are fuzzed on, one after the other (started once). */
const masterPool = new ProcessPool();
afterAll(() => masterPool.stopAll());
let shared: Promise<{ master: RoleProcess; base: string; state: string }> | undefined;
const lonePrimary = () => {
  shared ??= startLonePrimary();
  return shared;
};

async function startLonePrimary(): Promise<{ master: RoleProcess; base: string; state: string }> {
  const [base, peer] = [await freeChpEndpoint(), await freeChpEndpoint()];
  const [state, peerState] = (await freeTcpEndpoints(2)) as [string, string];
  const master = masterPool.start({
    labDir,
    cmd: "cmd/policy-master.ts",
    name: "primary",
    args: ["--role", "primary", "--endpoint", base, "--peer", peer, "--state", state, "--peer-state", peerState, ...FAST],
  });
  await master.waitForLog("listening", WAIT_MS);
  await probeMaster(base);
  return { master, base, state };
}

/** A hand-written CHP server for a client under test: answers every ICANHAZ with an empty snapshot; HUGZ on demand. */
class FakeServer {
  readonly router = jar.add(new Router());
  requests = 0;
  private pub: Publisher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly base: string) {}

  async start(): Promise<void> {
    await this.router.bind(this.base);
    void (async () => {
      for (;;) {
        const req = fromSnapshotClient(await this.router.receive().catch(() => [] as Buffer[]));
        if (this.router.closed) return;
        if (req.kind !== "icanhaz") continue;
        this.requests += 1;
        await this.router.send([req.client, ...kthxbai(0n, req.subtree)]).catch(() => {});
      }
    })();
  }

  /** A publisher at P+1 sending HUGZ, bound after the fuzzer has let go of the port. */
  async hugz(): Promise<void> {
    this.pub = jar.add(new Publisher());
    await this.pub.bind(plus(this.base, 1));
    this.timer = setInterval(() => this.pub?.send(hugz()).catch(() => {}), 50);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

describe("fuzzing the policy master", () => {
  it("the snapshot ROUTER takes 1,000 malformed requests and still serves", async () => {
    const { master, base } = await lonePrimary();
    const report = await fuzzRole(master, {
      endpoint: base,
      peer: "dealer",
      words: ["ICANHAZ?", "/acl/edge/", "KTHXBAI", ""],
      maxMessageBytes: MAX_FRAME_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probeMaster(base),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(master.find("bad snapshot request dropped").length).toBeGreaterThan(100);
    expect(master.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the collector SUB takes 1,000 malformed KVSETs and still serves", async () => {
    const { master, base } = await lonePrimary();
    const report = await fuzzRole(master, {
      endpoint: plus(base, 2),
      peer: "pub",
      words: ["/acl/edge/0100", "HUGZ", "KTHXBAI", Buffer.alloc(8)],
      maxMessageBytes: MAX_FRAME_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probeMaster(base),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(master.find("bad update dropped").length).toBeGreaterThan(100);
    expect(master.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the publisher PUB and the Binary Star state PUB take 1,000 malformed subscriptions each and still serve", async () => {
    const { master, base, state } = await lonePrimary();
    for (const endpoint of [plus(base, 1), state]) {
      const report = await fuzzRole(master, {
        endpoint,
        peer: "xsub",
        words: ["\x01", "\x00", "\x01/acl/", "HUGZ"],
        maxMessageBytes: MAX_MESSAGE_BYTES,
        maxRssMiB: MAX_RSS_MIB,
        probe: () => probeMaster(base),
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
    }
  });

  it("a passive master's SUB to its peer's publisher takes 1,000 malformed updates from a hostile PUB and still follows", async () => {
    const peer = new FakeServer(await freeChpEndpoint());
    await peer.start();
    const [state, peerState] = (await freeTcpEndpoints(2)) as [string, string];
    // The "peer" says it is active ("3", lab11's state frame) every 100 ms: the backup turns passive and follows it.
    const peerStatePub = jar.add(new Publisher());
    await peerStatePub.bind(peerState);
    const stateTimer = setInterval(() => peerStatePub.send("3").catch(() => {}), 100);
    try {
      const own = await freeChpEndpoint();
      const backup = procs.start({
        labDir,
        cmd: "cmd/policy-master.ts",
        name: "backup",
        args: ["--role", "backup", "--endpoint", own, "--peer", peer.base, "--state", state, "--peer-state", peerState, ...FAST],
      });
      await backup.waitForLog("passive: following the active peer", WAIT_MS);
      const report = await fuzzRole(backup, {
        endpoint: plus(peer.base, 1),
        peer: "pub",
        bind: true,
        words: ["", "HUGZ", "/acl/edge/0100"],
        maxMessageBytes: MAX_FRAME_BYTES,
        maxRssMiB: MAX_RSS_MIB,
        probe: async () => {
          const before = peer.requests;
          await peer.hugz();
          await waitUntil(() => peer.requests > before, { timeoutMs: 10_000, what: "the backup to ask its peer for a snapshot again" });
        },
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(backup.find("invalid message from the server dropped").length).toBeGreaterThan(100);
    } finally {
      clearInterval(stateTimer);
      peer.stop();
    }
  });
});

describe("fuzzing the firewall node", () => {
  async function startNode(server: string): Promise<{ node: RoleProcess; query: string }> {
    const [query] = (await freeTcpEndpoints(1)) as [string];
    const node = procs.start({
      labDir,
      cmd: "cmd/firewall-node.ts",
      name: "node",
      args: ["--name", "fw-fuzz", "--servers", server, "--query", query, "--server-ttl", "500"],
    });
    await node.waitForLog("listening", WAIT_MS);
    return { node, query };
  }

  const answers = async (query: string) => {
    const a = await askNode(query, { op: "check", proto: "tcp", src: "10.0.0.1", sport: 1000, dst: "10.1.0.1", dport: 443 }, 5000);
    if (!a?.ok || !("decision" in a)) throw new Error(`no decision: ${JSON.stringify(a)}`);
  };

  it("the query REP takes 1,000 malformed queries and still answers a check", async () => {
    const { node, query } = await startNode(await freeChpEndpoint());
    const report = await fuzzRole(node, {
      endpoint: query,
      peer: "dealer",
      envelope: true,
      fields: ["v", "op", "proto", "src", "sport", "dst", "dport"],
      maxMessageBytes: MAX_QUERY_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => answers(query),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(node.find("bad query refused").length).toBeGreaterThan(100);
    expect(node.find("message dropped: its handling failed")).toEqual([]);
  });

  it("its SUB takes 1,000 malformed updates from a hostile PUB, then syncs again and answers", async () => {
    const server = new FakeServer(await freeChpEndpoint());
    await server.start();
    const { node, query } = await startNode(server.base);
    try {
      const report = await fuzzRole(node, {
        endpoint: plus(server.base, 1),
        peer: "pub",
        bind: true,
        words: ["/acl/edge/", "HUGZ", "/acl/edge/0100"],
        maxMessageBytes: MAX_FRAME_BYTES,
        maxRssMiB: MAX_RSS_MIB,
        probe: async () => {
          const before = server.requests;
          await server.hugz();
          await waitUntil(() => server.requests > before, { timeoutMs: 10_000, what: "the node to ask for a snapshot again" });
          await answers(query);
        },
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(node.find("invalid message from the server dropped").length).toBeGreaterThan(100);
    } finally {
      server.stop();
    }
  });

  it("its snapshot DEALER takes 1,000 malformed replies from a hostile DEALER at P, and still answers", async () => {
    // P is the fuzzer's (bound by it); P+1 sends HUGZ, so the node asks for snapshots and reads the fuzz as replies.
    const base = await freeChpEndpoint();
    const pub = jar.add(new Publisher());
    await pub.bind(plus(base, 1));
    const timer = setInterval(() => pub.send(hugz()).catch(() => {}), 50);
    try {
      const { node, query } = await startNode(base);
      const report = await fuzzRole(node, {
        endpoint: base,
        peer: "dealer",
        bind: true,
        words: ["KTHXBAI", "/acl/edge/0100", Buffer.alloc(8)],
        maxMessageBytes: MAX_FRAME_BYTES,
        maxRssMiB: MAX_RSS_MIB,
        probe: () => answers(query),
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(node.find("invalid message from the server dropped").length).toBeGreaterThan(100);
    } finally {
      clearInterval(timer);
    }
  });
});
