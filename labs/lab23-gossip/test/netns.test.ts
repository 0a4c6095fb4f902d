// A real partition: two network namespaces joined by a veth pair (10.23.0.1 and 10.23.0.2), two
// nodes in each, found through a seed list (beacons stay on each namespace's loopback). The link
// is cut; each side declares the other dead and takes random writes on random nodes (the same keys
// on both sides among them); the link is healed; every node's digest must then be identical within
// a bounded number of anti-entropy rounds. Names start with zl23; everything is removed afterwards,
// also when the test fails. Skipped, saying why, where `ip netns` cannot be used.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { seededRandom } from "@zlabs/kit";
import { type LogEntry, type LogMatch, matches, waitUntil } from "@zlabs/kit/testing";
import { afterAll, describe, expect, it } from "vitest";
import { FAST_ARGS, labDir, tempDir, WAIT_MS } from "./helpers.ts";

const tag = String(process.pid % 100_000);
const NS = { a: `zl23a${tag}`, b: `zl23b${tag}` };
const VETH = { a: `zl23va${tag}`, b: `zl23vb${tag}` };
const IP = { a: "10.23.0.1", b: "10.23.0.2" };
/** Anti-entropy rounds after the heal (and the members found again) within which every digest is identical. */
const ROUNDS_BOUND = 40;

const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });

function netnsUnusable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  const probe = `zl23p${tag}`;
  const made = ip("netns", "add", probe);
  if (made.error) return `ip is not available (${made.error.message})`;
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  ip("netns", "del", probe);
  return undefined;
}
const unusable = netnsUnusable();

function run(...args: string[]): void {
  const r = ip(...args);
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** A role inside a namespace: `ip netns exec NS node --import tsx ...` (ip execs node: same pid). */
class NsRole {
  readonly logs: LogEntry[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    ns: string,
    cmd: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", join(labDir, cmd), ...args], {
      cwd: labDir,
      env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "debug", ZLABS_VIEW: "off", ZLABS_USER_CWD: labDir, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [this.child.stdout, this.child.stderr])
      if (stream)
        createInterface({ input: stream }).on("line", (line) => {
          if (line.startsWith("{")) this.logs.push(JSON.parse(line) as LogEntry);
        });
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
  }

  find(match: LogMatch, from = 0): LogEntry[] {
    return this.logs.slice(from).filter((e) => matches(e, match));
  }

  waitFor(match: LogMatch, from = 0, timeoutMs = WAIT_MS): Promise<LogEntry> {
    return waitUntil(() => this.find(match, from)[0], { timeoutMs, what: `${this.name}: ${JSON.stringify(match)}`, everyMs: 50 });
  }

  /** The latest anti-entropy round line: its round number and the digest then. */
  lastRound(): LogEntry | undefined {
    return this.find("anti-entropy round").at(-1);
  }

  async kill(): Promise<void> {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      process.kill(this.child.pid, "SIGKILL");
    await this.exited;
  }
}

const roles: NsRole[] = [];
const store = tempDir("lab23-netns");

function teardown(): void {
  for (const ns of Object.values(NS)) {
    for (const pid of ip("netns", "pids", ns).stdout?.split("\n").filter(Boolean) ?? []) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    ip("netns", "del", ns);
  }
}

afterAll(async () => {
  await Promise.all(roles.map((r) => r.kill()));
  teardown();
  rmSync(store, { recursive: true, force: true });
});

describe.skipIf(unusable !== undefined)(`a partition in network namespaces${unusable ? ` (skipped: ${unusable})` : ""}`, () => {
  it(`writes on both sides of a partition: once healed, every digest identical within ${ROUNDS_BOUND} rounds`, async () => {
    teardown();
    for (const ns of Object.values(NS)) {
      run("netns", "add", ns);
      run("-n", ns, "link", "set", "lo", "up");
    }
    run("link", "add", VETH.a, "netns", NS.a, "type", "veth", "peer", "name", VETH.b, "netns", NS.b);
    for (const side of ["a", "b"] as const) {
      run("-n", NS[side], "addr", "add", `${IP[side]}/24`, "dev", VETH[side]);
      run("-n", NS[side], "link", "set", VETH[side], "up");
    }
    const spec = [
      { id: "a1", side: "a", mailbox: 5231, pub: 5233 },
      { id: "a2", side: "a", mailbox: 5232, pub: 5234 },
      { id: "b1", side: "b", mailbox: 5231, pub: 5233 },
      { id: "b2", side: "b", mailbox: 5232, pub: 5234 },
    ] as const;
    const mailbox = (s: (typeof spec)[number]) => `tcp://${IP[s.side]}:${s.mailbox}`;
    const seeds = spec.map(mailbox).join(",");
    const nodes = spec.map(
      (s, i) =>
        new NsRole(
          s.id,
          NS[s.side],
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
    roles.push(...nodes);
    const others = (n: NsRole) => nodes.filter((x) => x !== n).map((x) => x.name);
    // Four runtimes starting at once on a busy machine: a minute for the first line.
    await Promise.all(nodes.map((n) => n.waitFor("node started", 0, 2 * WAIT_MS)));
    for (const n of nodes) for (const o of others(n)) await n.waitFor({ msg: "member joined", member: o });

    // Cut the link: each side declares the other dead.
    run("-n", NS.a, "link", "set", VETH.a, "down");
    await Promise.all([
      ...["b1", "b2"].flatMap((o) => [nodes[0], nodes[1]].map((n) => n?.waitFor({ msg: "member dead", member: o }))),
      ...["a1", "a2"].flatMap((o) => [nodes[2], nodes[3]].map((n) => n?.waitFor({ msg: "member dead", member: o }))),
    ]);

    // Random writes on random nodes while partitioned (one admin per node, run in its namespace).
    const random = seededRandom(2323);
    const keys = ["x", "y", "z", "w"];
    const perNode = spec.map(() => [] as string[]);
    for (let i = 0; i < 12; i++) {
      const n = Math.floor(random() * spec.length);
      perNode[n]?.push(keys[Math.floor(random() * keys.length)] as string, `v${i}-${spec[n]?.id}`);
    }
    const admins = spec.flatMap((s, n) =>
      (perNode[n]?.length ?? 0) > 0
        ? [
            new NsRole(`admin-${s.id}`, NS[s.side], "cmd/gossip-admin.ts", [
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
    roles.push(...admins);
    expect(await Promise.all(admins.map((a) => a.exited))).toEqual(admins.map(() => 0));
    const sides = (side: "a" | "b") => nodes.filter((_, i) => spec[i]?.side === side);
    // Each side converges on its own, and the two sides differ.
    const sideDigest = async (side: "a" | "b") =>
      waitUntil(
        () => {
          const d = new Set(sides(side).map((n) => n.lastRound()?.digest));
          return d.size === 1 ? [...d][0] : undefined;
        },
        { timeoutMs: WAIT_MS, what: `side ${side} converged`, everyMs: 100 },
      );
    expect(await sideDigest("a")).not.toEqual(await sideDigest("b"));

    // Heal: the seeds are joined again, each refutes its death, anti-entropy repairs the rest.
    const roundsAtHeal = nodes.map((n) => (n.lastRound()?.round as number) ?? 0);
    run("-n", NS.a, "link", "set", VETH.a, "up");
    const rounds = await waitUntil(
      () => {
        const last = nodes.map((n) => n.lastRound());
        const same = new Set(last.map((l) => l?.digest)).size === 1 && last.every((l) => l?.live === 3);
        return same ? last.map((l, i) => (l?.round as number) - (roundsAtHeal[i] as number)) : undefined;
      },
      { timeoutMs: WAIT_MS, what: "every digest identical after the heal", everyMs: 50 },
    );
    console.log(
      `partition healed: every digest identical after ${Math.max(...rounds)} anti-entropy rounds (per node: ${rounds.join(", ")})`,
    );
    expect(Math.max(...rounds)).toBeLessThanOrEqual(ROUNDS_BOUND);
    // No flapping: the concurrent writes to the same keys resolved once; five more rounds change nothing.
    const marks = nodes.map((n) => n.logs.length);
    const digest = nodes[0]?.lastRound()?.digest;
    const targets = nodes.map((n) => (n.lastRound()?.round as number) + 5);
    await Promise.all(
      nodes.map((n, i) => n.waitFor((e) => e.msg === "anti-entropy round" && (e.round as number) >= (targets[i] as number), marks[i])),
    );
    expect(nodes.flatMap((n, i) => n.find("entry applied", marks[i]))).toEqual([]);
    expect(nodes.map((n) => n.lastRound()?.digest)).toEqual(nodes.map(() => digest));
  });
});
