/**
 * lab07 benchmark, against a real policy master (cmd/policy-master.ts, a lone primary, LOG_LEVEL=warn):
 *   1. updates per second through the master to 1 and to 10 CHP clients: the bench publishes
 *      `--updates` KVSETs as fast as it can, then /bench/end; the clients (bench/clients.ts, one
 *      process) apply them all; the rate is updates / (first KVSET sent → every client has /bench/end);
 *   2. the time a late joiner (a firewall node: CHP client + ACL, in this process) needs to load a
 *      `--rules`-rule snapshot, from its first connect to the ACL built; and the master's memory.
 *
 *   pnpm --filter lab07 bench [-- --updates 50000 --rules 100000 --rounds 3]
 */
import { fileURLToPath } from "node:url";
import { createLogger, intOption, parseConfig } from "@zlabs/kit";
import { freeTcpEndpoints, ProcessPool, type RoleProcess, rssMiB, waitUntil } from "@zlabs/kit/testing";
import { CloneClient, chpServer } from "../internal/clone-client.ts";
import { FirewallNode } from "../internal/firewall-node.ts";
import { kv } from "../internal/kvmsg.ts";
import { Updater } from "../internal/updater.ts";
import { freeChpEndpoint } from "../test/helpers.ts";

const config = parseConfig({
  lab: "lab07",
  role: "bench",
  describe: "updates/s through the master to 1 and 10 clients; a late joiner's load time for a large snapshot",
  options: {
    updates: intOption(50_000, "updates per timed run", { min: 1 }),
    rules: intOption(100_000, "rules in the late joiner's snapshot", { min: 1, max: 1_000_000 }),
    rounds: intOption(3, "runs of each case (the table shows medians)", { min: 1 }),
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));
const log = createLogger({ lab: "lab07", role: "bench", level: "warn" });
const procs = new ProcessPool();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rule = (i: number) => `allow tcp 10.${(i >> 8) & 255}.${i & 255}.0/24 any 10.1.0.0/16 ${1 + (i % 65535)}`;

async function startMaster(): Promise<{ master: RoleProcess; base: string }> {
  const [base, peer] = [await freeChpEndpoint(), await freeChpEndpoint()];
  const [state, peerState] = (await freeTcpEndpoints(2)) as [string, string];
  const master = procs.start({
    labDir,
    cmd: "cmd/policy-master.ts",
    name: "master",
    args: [
      "--role",
      "primary",
      "--endpoint",
      base,
      "--peer",
      peer,
      "--state",
      state,
      "--peer-state",
      peerState,
      "--heartbeat",
      "100",
      "--max-keys",
      "1000000",
    ],
    env: { LOG_LEVEL: "warn" },
  });
  // A first client's snapshot request is the vote that makes the lone primary active.
  const stop = new AbortController();
  const c = new CloneClient({ servers: [chpServer(base)], subtree: "", serverTtlMs: 60_000, maxKeys: 10, name: "voter" }, log);
  const done = c.run(stop.signal);
  await waitUntil(() => c.synced, { timeoutMs: 30_000, what: "the master to serve" });
  stop.abort();
  await done;
  return { master, base };
}

async function withUpdater<T>(base: string, fn: (u: Updater) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const u = new Updater([chpServer(base)], log);
  const running = u.run(stop.signal);
  try {
    await u.untilListening(1, 10_000, stop.signal);
    return await fn(u);
  } finally {
    stop.abort();
    await running;
  }
}

/** Updates per second from this process through the master to `n` clients. */
async function fanOut(n: number): Promise<{ rate: number; lost: number }> {
  const { base } = await startMaster();
  try {
    const clients = procs.start({ labDir, cmd: "bench/clients.ts", name: "clients", args: [base, String(n)] });
    await waitUntil(() => clients.lines.includes("ready"), { timeoutMs: 30_000, what: "the clients' snapshots" });
    return await withUpdater(base, async (u) => {
      const started = performance.now();
      for (let i = 0; i < config.updates; i++) await u.send(kv(`/bench/${i % 1000}`, rule(i)));
      await u.send(kv("/bench/end", "deny any any any any any"));
      await waitUntil(() => clients.lines.some((l) => l.startsWith("done")), {
        timeoutMs: 120_000,
        what: "every client to apply the updates",
        everyMs: 2,
      });
      const ms = performance.now() - started;
      const [, seqSum, gaps] = (clients.lines.find((l) => l.startsWith("done")) as string).split(" ");
      // Every client ends at the master's last sequence: updates + 1 unless the collector dropped some.
      const lost = config.updates + 1 - Number(seqSum) / n;
      if (Number(gaps) > 0) process.stderr.write(`(${gaps} gaps: re-snapshots during the run)\n`);
      return { rate: (config.updates * 1000) / ms, lost };
    });
  } finally {
    await procs.stopAll();
  }
}

/** ms for a late joiner to load `rules` rules into its ACL; and the master's RSS holding them. */
async function lateJoiner(): Promise<{ ms: number; rssMiB: number }> {
  const { master, base } = await startMaster();
  try {
    await withUpdater(base, async (u) => {
      for (let i = 0; i < config.rules; i++) await u.send(kv(`/acl/edge/${String(i).padStart(6, "0")}`, rule(i)));
      if (!(await u.set(kv("/acl/edge/zz-last", rule(1)), 60_000))) throw new Error("the last rule was not acknowledged");
    });
    const node = new FirewallNode(
      {
        name: "late",
        subtree: "/acl/edge/",
        servers: [chpServer(base)],
        query: "tcp://127.0.0.1:*",
        serverTtlMs: 60_000,
        maxKeys: 1_000_000,
      },
      log,
    );
    const stop = new AbortController();
    const started = performance.now();
    const running = node.run(stop.signal);
    await waitUntil(() => node.client.synced && node.acl.size > 0, { timeoutMs: 120_000, what: "the late joiner's snapshot", everyMs: 2 });
    // The ACL orders its rules on the first check: part of being ready to enforce.
    node.acl.check({ proto: "tcp", src: "10.0.0.1", sport: 1, dst: "10.1.0.1", dport: 443 });
    const ms = performance.now() - started;
    const size = node.acl.size;
    stop.abort();
    await running;
    if (size < config.rules) throw new Error(`the late joiner holds ${size} rules, not ${config.rules + 1}`);
    return { ms, rssMiB: rssMiB(master.pid as number) };
  } finally {
    await procs.stopAll();
  }
}

const rows: string[] = [];
for (const n of [1, 10]) {
  const runs: { rate: number; lost: number }[] = [];
  for (let r = 0; r < config.rounds; r++) runs.push(await fanOut(n));
  const rate = median(runs.map((x) => x.rate));
  rows.push(
    `| updates/s through the master to ${n} client${n === 1 ? "" : "s"} | ${Math.round(rate).toLocaleString("en-US")} | lost at the collector: ${Math.max(...runs.map((x) => x.lost))} |`,
  );
}
const joins: { ms: number; rssMiB: number }[] = [];
for (let r = 0; r < config.rounds; r++) joins.push(await lateJoiner());
rows.push(
  `| late joiner: ${config.rules.toLocaleString("en-US")}-rule snapshot loaded into its ACL | ${Math.round(median(joins.map((x) => x.ms))).toLocaleString("en-US")} ms | master RSS ${median(joins.map((x) => x.rssMiB))} MiB |`,
);
process.stdout.write(
  `\nlab07 bench: ${config.updates.toLocaleString("en-US")} updates per run, medians of ${config.rounds} runs\n\n| case | result | note |\n|---|---|---|\n${rows.join("\n")}\n`,
);
