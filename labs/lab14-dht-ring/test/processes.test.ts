// The real processes: six nodes found by beacon, the same owners everywhere, a seventh joining
// (the keys it takes, measured), two nodes SIGKILLed at once (nothing lost), bad flags.
import { ProcessPool } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { encodeRequest, fromMailboxReply } from "../internal/protocol.ts";
import { Ring } from "../internal/ring.ts";
import { client, freeUdpPort, labDir, type RingNodeProcess, startNode, startRing, WAIT_MS, waitForView } from "./helpers.ts";

const procs = new ProcessPool();
const KEYS = 210;
const R = 3;
let ring: RingNodeProcess[] = [];
let beaconPort = 0;
const written = new Map<string, string>();

beforeAll(async () => {
  beaconPort = await freeUdpPort();
  ring = await startRing(procs, beaconPort, 6);
}, 120_000);
afterAll(() => procs.stopAll());

/** OWNERS of a key as one node sees it. */
async function ownersAt(node: RingNodeProcess, key: string): Promise<string[]> {
  const dealer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  dealer.connect(node.endpoint);
  try {
    await dealer.send(encodeRequest({ op: "OWNERS", rid: 7, key }));
    const m = fromMailboxReply(await dealer.receive());
    if (m.kind !== "reply") throw new Error(m.reason);
    return m.reply.owners ?? [];
  } finally {
    dealer.close();
  }
}

describe("six ring nodes as processes", () => {
  it("every node maps every key to the same owners, the ones the ring of their uuids gives", async () => {
    const expected = new Ring(ring.map((n) => n.id));
    for (let k = 0; k < 20; k++) {
      const key = `owners:${k}`;
      const seen = await Promise.all(ring.map((n) => ownersAt(n, key)));
      for (const owners of seen) expect(owners).toEqual(expected.ownersOf(key));
    }
  });

  it("writes through any node are stored on R nodes", async () => {
    const c = client(ring);
    try {
      for (let k = 0; k < KEYS; k++) {
        const key = `user:${k}`;
        const reply = await c.put(key, `value ${k}`);
        expect(reply?.replicas, key).toBe(R);
        written.set(key, `value ${k}`);
      }
    } finally {
      c.close();
    }
  });

  it("a seventh node joins: it takes the keys it now replicates (about R·K/7), the others take none", async () => {
    const marks = ring.map((n) => n.proc.logs.length);
    const newcomer = await startNode(procs, beaconPort, "n7");
    await Promise.all([...ring.map((n, i) => waitForView(n, 7, marks[i])), waitForView(newcomer, 7)]);
    const after = new Ring([...ring.map((n) => n.id), newcomer.id]);
    const expected = [...written.keys()].filter((k) => after.ownersOf(k).includes(newcomer.id)).length;
    const took = (n: RingNodeProcess, from = 0) => n.proc.find("took keys", from).reduce((sum, e) => sum + (e.keys as number), 0);
    // Every key it now replicates arrives (each from one old owner).
    const deadline = Date.now() + WAIT_MS;
    while (took(newcomer) < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(took(newcomer)).toBe(expected);
    expect(expected).toBeGreaterThan((R * KEYS) / 7 / 2);
    expect(expected).toBeLessThan(((R * KEYS) / 7) * 2);
    expect(ring.reduce((sum, n, i) => sum + took(n, marks[i]), 0)).toBe(0);
    ring.push(newcomer);
  });

  it("R-1 = 2 nodes SIGKILLed at once: every key written is still read back, through the survivors", async () => {
    const victims = [ring[1], ring[4]] as RingNodeProcess[];
    const survivors = ring.filter((n) => !victims.includes(n));
    const marks = survivors.map((n) => n.proc.logs.length);
    await Promise.all(victims.map((v) => procs.crash(v.proc)));
    await Promise.all(survivors.map((n, i) => waitForView(n, survivors.length, marks[i])));
    const c = client(survivors);
    try {
      for (const [key, value] of written) {
        const reply = await c.call({ op: "GET", key, hops: 0 });
        expect(reply?.value?.toString(), key).toBe(value);
      }
    } finally {
      c.close();
    }
  });
});

describe("bad flags: one line, exit code 2", () => {
  it.each([
    [["--name", "a b"], /^dht-node: --name "a b" may hold only/],
    [["--replication", "0"], /^dht-node: --replication \(or LAB14_REPLICATION\) must be at least 1/],
    [["--bind", "ipc:///tmp/x"], /^dht-node: --bind must be a tcp:\/\/ endpoint/],
    [["--hop-limit", "9"], /^dht-node: --hop-limit \(or LAB14_HOP_LIMIT\) must be at most 4/],
  ])("dht-node %j", async (args, line) => {
    const p = procs.start({ labDir, cmd: "cmd/dht-node.ts", name: "bad", args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(line);
  });

  it("client-put-get --put-ratio 2", async () => {
    const p = procs.start({ labDir, cmd: "cmd/client-put-get.ts", name: "bad", args: ["--put-ratio", "2"] });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines[0]).toMatch(/^client-put-get: --put-ratio \(or LAB14_PUT_RATIO\) must be at most 1/);
  });
});
