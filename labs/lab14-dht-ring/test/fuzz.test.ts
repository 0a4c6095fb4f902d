// The node's two inputs fuzzed against the real process: its mailbox ROUTER (the kit's fuzzer) and
// its beacon port (malformed datagrams, and well-formed beacons of made-up nodes). After each, the
// node is alive, within its memory bound, and still stores and serves a key.
import { createSocket } from "node:dgram";
import { MAX_MESSAGE_BYTES, seededRandom } from "@zlabs/kit";
import { fuzzRole, ProcessPool, quiescent, rssMiB } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { BEACON_BYTES, encodeBeacon, PEER_COMMANDS, REQUEST_COMMANDS } from "../internal/protocol.ts";
import { client, freeUdpPort, type RingNodeProcess, startRing } from "./helpers.ts";

const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

async function probe(nodes: RingNodeProcess[]): Promise<void> {
  const c = client(nodes);
  try {
    const key = `probe:${Date.now()}`;
    const put = await c.put(key, "still here");
    if (put?.status !== "ok") throw new Error(`the probe's PUT got ${JSON.stringify(put)}`);
    const got = await c.call({ op: "GET", key, hops: 0 });
    if (got?.value?.toString() !== "still here") throw new Error(`the probe's GET got ${JSON.stringify(got)}`);
  } finally {
    c.close();
  }
}

describe("fuzzing a ring node", () => {
  it("the mailbox ROUTER takes 1,000 malformed messages (every command among them) and still serves a PUT and a GET", async () => {
    const nodes = await startRing(procs, await freeUdpPort(), 2, "f");
    const target = nodes[0] as RingNodeProcess;
    const report = await fuzzRole(target.proc, {
      endpoint: target.endpoint,
      peer: "dealer",
      words: [...REQUEST_COMMANDS, ...PEER_COMMANDS, "REPLY"],
      fields: ["v", "rid", "key", "value", "hops", "version", "writer", "deleted", "items", "id", "endpoint", "name"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe([target]),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(target.proc.find("malformed message dropped").length).toBeGreaterThan(100);
    expect(target.proc.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the beacon port takes 1,000 malformed datagrams and 50 beacons of made-up nodes; the fakes expire and the ring still serves", async () => {
    const port = await freeUdpPort();
    const nodes = await startRing(procs, port, 2, "b");
    const target = nodes[0] as RingNodeProcess;
    const pid = target.proc.pid as number;
    const rnd = seededRandom(24);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    const udp = createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
    udp.setBroadcast(true);
    const send = (d: Buffer) => new Promise<void>((resolve) => udp.send(d, port, "127.255.255.255", () => resolve()));
    try {
      for (let i = 0; i < 1000; i++) {
        const kind = i % 5;
        const datagram =
          kind === 0
            ? bytes(Math.floor(rnd() * 300))
            : kind === 1
              ? Buffer.concat([Buffer.from("DHT"), bytes(BEACON_BYTES - 3 + (rnd() < 0.5 ? 1 : -1))])
              : kind === 2
                ? Buffer.concat([Buffer.from("DHT"), Buffer.from([2 + Math.floor(rnd() * 250)]), bytes(18)])
                : kind === 3
                  ? Buffer.concat([Buffer.from("ZRE\x01"), bytes(18)])
                  : encodeBeacon(bytes(16), 0);
        await send(datagram);
      }
      // Beacons of nodes that do not exist: taken into the view (beacons are not authenticated),
      // never answered, and expired after the silence.
      for (let i = 0; i < 50; i++) {
        await send(encodeBeacon(bytes(16), 1 + Math.floor(rnd() * 1000)));
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      udp.close();
    }
    await quiescent(pid);
    expect(target.proc.running).toBe(true);
    // 800 of them are malformed; the kernel drops some of a burst like this one (UDP).
    expect(target.proc.find("datagram dropped").length).toBeGreaterThan(200);
    const fakes = target.proc.find((e) => e.msg === "peer joined the view" && typeof e.view === "number" && e.view > 2);
    expect(fakes.length, JSON.stringify(target.proc.logs.slice(-5))).toBeGreaterThan(0);
    await target.proc.waitForLog((e) => e.msg === "peer left the view" && e.view === 2 && e.why === "silent", 30_000);
    await probe(nodes);
    expect(rssMiB(pid)).toBeLessThan(MAX_RSS_MIB);
    expect(target.proc.find("message dropped: its handling failed")).toEqual([]);
  });
});
