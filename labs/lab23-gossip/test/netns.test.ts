// A real partition: two network namespaces on a switch (the kit's NetnsSwitch: 10.23.0.2 and 10.23.0.3), two
// nodes in each, found through a seed list (beacons stay on each namespace's loopback). The link
// is cut; each side declares the other dead and takes random writes on random nodes (the same keys
// on both sides among them); the link is healed; every node's digest must then be identical within
// a bounded number of anti-entropy rounds. Names start with zl23; everything is removed afterwards,
// also when the test fails. Skipped, saying why, where `ip netns` cannot be used.
import { rmSync } from "node:fs";
import { seededRandom } from "@zlabs/kit";
import { type LogEntry, type LogMatch, NetnsSwitch, netnsUnusable, ProcessPool, type RoleProcess, waitUntil } from "@zlabs/kit/testing";
import { afterAll, describe, expect, it } from "vitest";
import { FAST_ARGS, labDir, tempDir, WAIT_MS } from "./helpers.ts";

const PREFIX = "zl23";
const IP = { a: "10.23.0.2", b: "10.23.0.3" };
/** Anti-entropy rounds after the heal (and the members found again) within which every digest is identical. */
const ROUNDS_BOUND = 40;
const unusable = netnsUnusable(PREFIX);
const procs = new ProcessPool();
const store = tempDir("lab23-netns");
let net: NetnsSwitch | undefined;

/** A role in side a's or b's namespace. */
function inSide(side: "a" | "b", name: string, cmd: string, args: string[], env: Record<string, string> = {}): RoleProcess {
  return procs.start({ labDir, cmd, args, name, env, netns: net?.host(side).ns });
}
const waitFor = (p: RoleProcess, match: LogMatch, from = 0, timeoutMs = WAIT_MS): Promise<LogEntry> => p.waitForLog(match, timeoutMs, from);
/** The latest anti-entropy round line: its round number and the digest then. */
const lastRound = (p: RoleProcess): LogEntry | undefined => p.find("anti-entropy round").at(-1);

afterAll(async () => {
  try {
    await procs.stopAll();
  } finally {
    net?.remove();
    rmSync(store, { recursive: true, force: true });
  }
});

describe.skipIf(unusable !== undefined)(`a partition in network namespaces${unusable ? ` (skipped: ${unusable})` : ""}`, () => {
  it(`writes on both sides of a partition: once healed, every digest identical within ${ROUNDS_BOUND} rounds`, async () => {
    net = new NetnsSwitch(PREFIX, "10.23.0");
    net.addHost("a", 2);
    net.addHost("b", 3);
    const spec = [
      { id: "a1", side: "a", mailbox: 5231, pub: 5233 },
      { id: "a2", side: "a", mailbox: 5232, pub: 5234 },
      { id: "b1", side: "b", mailbox: 5231, pub: 5233 },
      { id: "b2", side: "b", mailbox: 5232, pub: 5234 },
    ] as const;
    const mailbox = (s: (typeof spec)[number]) => `tcp://${IP[s.side]}:${s.mailbox}`;
    const seeds = spec.map(mailbox).join(",");
    const nodes = spec.map((s, i) =>
      inSide(
        s.side,
        s.id,
        "cmd/gossip-node.ts",
        [
          "--id",
          s.id,
          "--rank",
          String(i + 1),
          "--host",
          IP[s.side],
          "--mailbox-port",
          String(s.mailbox),
          "--pub-port",
          String(s.pub),
          "--beacon-port",
          "0",
          "--seed",
          seeds,
          ...FAST_ARGS,
        ],
        { LAB23_STORE_DIR: store },
      ),
    );
    const others = (n: RoleProcess) => nodes.filter((x) => x !== n).map((x) => x.name);
    // Four runtimes starting at once on a busy machine: a minute for the first line.
    await Promise.all(nodes.map((n) => waitFor(n, "node started", 0, 2 * WAIT_MS)));
    for (const n of nodes) for (const o of others(n)) await waitFor(n, { msg: "member joined", member: o });

    // Cut the link: each side declares the other dead.
    net.partition(["a"]);
    await Promise.all([
      ...["b1", "b2"].flatMap((o) => [nodes[0], nodes[1]].map((n) => waitFor(n as RoleProcess, { msg: "member dead", member: o }))),
      ...["a1", "a2"].flatMap((o) => [nodes[2], nodes[3]].map((n) => waitFor(n as RoleProcess, { msg: "member dead", member: o }))),
    ]);

    // Random writes on random nodes while partitioned (one admin per node, run in its namespace).
    const random = seededRandom(2323);
    const keys = ["x", "y", "z", "w"];
    const perNode = spec.map(() => [] as string[]);
    /** The values each node is given: its own writes, which its rounds count from. */
    const valuesOf = spec.map(() => [] as string[]);
    for (let i = 0; i < 12; i++) {
      const n = Math.floor(random() * spec.length);
      const value = `v${i}-${spec[n]?.id}`;
      perNode[n]?.push(keys[Math.floor(random() * keys.length)] as string, value);
      valuesOf[n]?.push(value);
    }
    const admins = spec.flatMap((s, n) =>
      (perNode[n]?.length ?? 0) > 0
        ? [
            inSide(s.side, `admin-${s.id}`, "cmd/gossip-admin.ts", [
              "--node",
              mailbox(s),
              "--timeout",
              "20000",
              "set",
              ...(perNode[n] ?? []),
            ]),
          ]
        : [],
    );
    expect(await Promise.all(admins.map(async (a) => (await a.exited).code))).toEqual(admins.map(() => 0));
    // Each side converges on its own, and the two sides differ. A node's rounds count from its own
    // writes on: a round logged before them shows the empty store's digest, the same on both sides.
    const afterWrites = await Promise.all(
      nodes.map(async (n, i) => {
        let from = 0;
        for (const value of valuesOf[i] ?? []) {
          const applied = await waitFor(n, { msg: "entry applied", value, via: "local" });
          from = Math.max(from, n.logs.indexOf(applied) + 1);
        }
        return from;
      }),
    );
    const roundSinceWrites = (n: RoleProcess) => n.find("anti-entropy round", afterWrites[nodes.indexOf(n)]).at(-1);
    const sides = (side: "a" | "b") => nodes.filter((_, i) => spec[i]?.side === side);
    const sideDigest = async (side: "a" | "b") =>
      waitUntil(
        () => {
          const d = new Set(sides(side).map((n) => roundSinceWrites(n)?.digest));
          return d.size === 1 ? [...d][0] : undefined;
        },
        { timeoutMs: WAIT_MS, what: `side ${side} converged`, everyMs: 100 },
      );
    expect(await sideDigest("a")).not.toEqual(await sideDigest("b"));

    // Heal: the seeds are joined again, each refutes its death, anti-entropy repairs the rest.
    // Rounds count from each node's first round with every member live again: until then nothing
    // crosses the healed link but TCP's retransmissions of the connections left open through the
    // partition, whose back-off grows with the partition's length (a wait in seconds, not in rounds).
    const atHeal = nodes.map((n) => n.logs.length);
    const roundsAtHeal = nodes.map((n) => (lastRound(n)?.round as number) ?? 0);
    net.heal();
    const rejoined = (i: number) =>
      (nodes[i] as RoleProcess).find((e) => e.msg === "anti-entropy round" && e.live === 3, atHeal[i]).at(0)?.round as number | undefined;
    const { rounds, sinceHeal } = await waitUntil(
      () => {
        const last = nodes.map((n) => lastRound(n)?.round as number);
        const from = nodes.map((_, i) => rejoined(i));
        const same = new Set(nodes.map((n) => lastRound(n)?.digest)).size === 1 && nodes.every((n) => lastRound(n)?.live === 3);
        if (!same || from.some((r) => r === undefined)) return undefined;
        return { rounds: last.map((r, i) => r - (from[i] as number)), sinceHeal: last.map((r, i) => r - (roundsAtHeal[i] as number)) };
      },
      { timeoutMs: WAIT_MS, what: "every digest identical after the heal", everyMs: 50 },
    );
    console.log(
      `partition healed: every digest identical ${Math.max(...rounds)} anti-entropy rounds after the members were found again (per node: ${rounds.join(", ")}; since the heal: ${sinceHeal.join(", ")})`,
    );
    expect(Math.max(...rounds)).toBeLessThanOrEqual(ROUNDS_BOUND);
    // No flapping: the concurrent writes to the same keys resolved once; five more rounds change nothing.
    const marks = nodes.map((n) => n.logs.length);
    const digest = lastRound(nodes[0] as RoleProcess)?.digest;
    const targets = nodes.map((n) => (lastRound(n)?.round as number) + 5);
    await Promise.all(
      nodes.map((n, i) => waitFor(n, (e) => e.msg === "anti-entropy round" && (e.round as number) >= (targets[i] as number), marks[i])),
    );
    expect(nodes.flatMap((n, i) => n.find("entry applied", marks[i]))).toEqual([]);
    expect(nodes.map((n) => lastRound(n)?.digest)).toEqual(nodes.map(() => digest));
  });
});
