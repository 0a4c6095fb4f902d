// End to end: real gossip-node processes found by beacon on the test's own UDP port, written to
// with gossip-admin's client; a node SIGKILLed and restarted, the coordinator killed, a clock 5 s
// ahead; bad flags.
import { rmSync } from "node:fs";
import { ProcessPool, type RoleProcess, waitUntil } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ask } from "../internal/gossip-admin.ts";
import { converged, FAST, freeUdpPort, labDir, mailboxOf, startNode, status, tempDir, WAIT_MS } from "./helpers.ts";

const procs = new ProcessPool();
const store = tempDir("lab23-e2e");
afterEach(() => procs.stopAll());
afterAll(() => rmSync(store, { recursive: true, force: true }));

/** Berkeley's bound here: every clock within this of the host's after the sync (the skewed one too). */
const CLOCK_BOUND_MS = 100;

async function cluster(n: number, extra: (i: number) => string[] = () => []) {
  const beaconPort = await freeUdpPort();
  const nodes: RoleProcess[] = [];
  for (let i = 1; i <= n; i++) nodes.push(startNode(procs, store, { id: `t${beaconPort}-${i}`, rank: i, beaconPort, extra: extra(i) }));
  const mailboxes = await Promise.all(nodes.map(mailboxOf));
  await converged(mailboxes);
  return { beaconPort, nodes, mailboxes, ids: nodes.map((p) => p.name) };
}

describe("the real processes", () => {
  it("writes on random nodes reach every node once each (no storm); a node SIGKILLed and restarted catches up", async () => {
    const { beaconPort, nodes, mailboxes, ids } = await cluster(4);
    const writes = 12;
    for (let i = 0; i < writes; i++) await ask(mailboxes[i % 4] as string, { op: "set", key: `k${i % 5}`, value: `v${i}` }, 10_000);
    await converged(mailboxes);
    // Each write is published once, by its origin, and applied at most once by each other node.
    const published = nodes.flatMap((p) => p.find("key written")).length;
    expect(published).toBe(writes);
    const applied = nodes.flatMap((p) => p.find((e) => e.msg === "entry applied" && e.via !== "local")).length;
    expect(applied).toBeLessThanOrEqual(writes * 3);

    // SIGKILL node 4, write while it is away (a delete among them), restart it: it replays its
    // JSONL store, then anti-entropy brings it the writes it missed.
    await procs.crash(nodes[3] as RoleProcess);
    await ask(mailboxes[0] as string, { op: "set", key: "missed", value: "while-down" }, 10_000);
    await ask(mailboxes[1] as string, { op: "del", key: "k1" }, 10_000);
    const back = startNode(procs, store, { id: ids[3] as string, rank: 4, beaconPort });
    const started = await back.waitForLog("node started", WAIT_MS);
    expect(started.keys).toBe(5);
    expect(started.inc).toBeGreaterThan(0);
    const backMailbox = await mailboxOf(back);
    const all = await converged([...mailboxes.slice(0, 3), backMailbox]);
    expect(all[3]?.keys).toBe(5);
    const got = await ask(backMailbox, { op: "get", key: "missed" }, 10_000);
    expect(got.entry?.value).toBe("while-down");
  });

  it(`Berkeley brings a node started 5 s ahead within ${CLOCK_BOUND_MS} ms (the outlier left out); then the coordinator SIGKILLed and the next rank elected everywhere`, async () => {
    const { nodes, mailboxes } = await cluster(4, (i) => (i === 3 ? ["--clock-skew-ms", "5000"] : []));
    const skewed = nodes[2] as RoleProcess;
    await skewed.waitForLog((e) => e.msg === "clock adjusted" && Math.abs(e.offsetMs as number) < CLOCK_BOUND_MS, WAIT_MS);
    const [first] = nodes as [RoleProcess];
    await first.waitForLog((e) => e.msg === "clock sync round" && (e.outliers as string[]).includes(skewed.name), WAIT_MS);
    const offsets = await waitUntil(
      async () => {
        const all = await Promise.all(mailboxes.map(status));
        return all.every((s) => Math.abs(s.clockOffsetMs) < CLOCK_BOUND_MS) ? all.map((s) => s.clockOffsetMs) : undefined;
      },
      { timeoutMs: WAIT_MS, what: "every clock within the bound", everyMs: 200 },
    );
    console.log(`clock offsets after the sync: ${offsets.map((o) => o.toFixed(1)).join(", ")} ms`);

    const survivors = nodes.slice(1);
    const next = survivors[0]?.name;
    const marks = survivors.map((p) => p.logs.length);
    const killedAt = performance.now();
    await procs.crash(first);
    await Promise.all(survivors.map((p, i) => p.waitForLog({ msg: "coordinator changed", coordinator: next }, WAIT_MS, marks[i])));
    const took = performance.now() - killedAt;
    // SWIM: probed within the 3 other members' periods, suspected, dead after --suspect.
    const bound = 4 * FAST.probe + FAST.suspect + 2 * FAST.probe;
    console.log(`coordinator re-elected in ${Math.round(took)} ms (bound ${bound} ms on an idle machine)`);
    // The machine is shared: the bound is reported, a generous deadline is asserted.
    expect(took).toBeLessThan(bound + 10_000);
    await survivors[1]?.waitForLog({ msg: "coordinator announced", coordinator: next }, WAIT_MS, marks[1]);
    // The new coordinator runs the clock sync now: the skewed node stays within the bound.
    await survivors[0]?.waitForLog({ msg: "clock sync round" }, WAIT_MS, marks[0]);
    // Each round's estimate is off by up to half a round trip, so the offset moves a little from round
    // to round: waited for, as above, rather than read once.
    await waitUntil(async () => Math.abs((await status(mailboxes[2] as string)).clockOffsetMs) < CLOCK_BOUND_MS, {
      timeoutMs: WAIT_MS,
      what: "the skewed node within the bound under the new coordinator",
      everyMs: 200,
    });
  });
});

describe("bad flags: one line, exit code 2", () => {
  it("gossip-node: a bad id, seed, ack timeout or rank (started side by side)", async () => {
    const cases: [string[], RegExp][] = [
      [["--id", "a b"], /^gossip-node: --id "a b" may hold only/],
      [["--seed", "nope"], /^gossip-node: --seed "nope" is not a tcp:\/\/host:port endpoint/],
      [["--probe", "100", "--ack-timeout", "200"], /^gossip-node: --ack-timeout must be shorter than --probe/],
      [["--rank", "1.5"], /^gossip-node: --rank \(or LAB23_RANK\) must be a whole number/],
    ];
    const started = cases.map(([args]) => procs.start({ labDir, cmd: "cmd/gossip-node.ts", name: "node", args }));
    for (const [i, p] of started.entries()) {
      expect(await p.exited).toEqual({ code: 2, signal: null });
      expect(p.lines).toHaveLength(1);
      expect(p.lines[0]).toMatch(cases[i]?.[1] as RegExp);
    }
  });

  it("gossip-admin without a command, and a node that never answers (exit 3)", async () => {
    const bad = procs.start({ labDir, cmd: "cmd/gossip-admin.ts", name: "admin", args: ["--node", "tcp://127.0.0.1:9", "frob"] });
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.lines[0]).toMatch(/^gossip-admin: usage: gossip-admin --node N set KEY VALUE/);
    const beaconPort = await freeUdpPort();
    const lost = procs.start({
      labDir,
      cmd: "cmd/gossip-admin.ts",
      name: "admin",
      args: ["--node", "nobody", "--beacon-port", String(beaconPort), "--timeout", "300", "status"],
    });
    expect((await lost.exited).code).toBe(3);
    expect(lost.lines.some((l) => l === `gossip-admin: no beacon from node "nobody" within 300 ms`)).toBe(true);
  });
});
