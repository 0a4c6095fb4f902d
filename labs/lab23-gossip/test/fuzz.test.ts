// Every socket a node binds, fuzzed with the kit's helper against the real process: its mailbox
// ROUTER, its PUB (subscriptions), its SUB (the fuzzer posing as a member, found by beacon) and
// its beacon port (datagrams). After each, the node is alive, within its memory bound and still
// answers a status request.
import { createSocket } from "node:dgram";
import { rmSync } from "node:fs";
import { MAX_MESSAGE_BYTES, seededRandom } from "@zlabs/kit";
import { freeTcpEndpoint, fuzzRole, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { encodeBeacon, TOPIC_SERVERS, TOPIC_UPDATE } from "../internal/protocol.ts";
import { freeUdpPort, labDir, mailboxOf, status, tempDir, WAIT_MS } from "./helpers.ts";

const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const store = tempDir("lab23-fuzz");
afterEach(() => procs.stopAll());
afterAll(() => rmSync(store, { recursive: true, force: true }));

const COMMANDS = ["PING", "ACK", "PING-REQ", "JOIN", "DIGEST", "DELTA", "TIME?", "TIME", "ADJUST", "ADMIN"];
const FIELDS = [
  "v",
  "from",
  "seq",
  "target",
  "updates",
  "versions",
  "reply",
  "entries",
  "round",
  "clock",
  "adjustMs",
  "op",
  "key",
  "value",
  "entry",
];

/** A lone node at a calm pace (so it goes idle between fuzz bursts); `suspect` long so a fake member stays. */
async function lone(beaconPort: number): Promise<{ node: RoleProcess; mailbox: string }> {
  const node = procs.start({
    labDir,
    cmd: "cmd/gossip-node.ts",
    name: "node",
    args: ["--id", "fuzzed", "--rank", "1", "--beacon-port", String(beaconPort), "--probe", "3000", "--ack-timeout", "1000"],
    env: { LAB23_STORE_DIR: store, LAB23_SUSPECT: "600000", LAB23_ANTI_ENTROPY: "3000" },
  });
  const mailbox = await mailboxOf(node);
  await node.waitForLog("node started", WAIT_MS);
  return { node, mailbox };
}

const probe = (mailbox: string) => async () => {
  const s = await status(mailbox);
  if (s.id !== "fuzzed") throw new Error("wrong status");
};

describe("fuzzing a gossip node", () => {
  it("the mailbox ROUTER takes 1,000 malformed messages and still answers a status request", async () => {
    const { node, mailbox } = await lone(await freeUdpPort());
    const report = await fuzzRole(node, {
      endpoint: mailbox,
      peer: "dealer",
      words: COMMANDS,
      fields: FIELDS,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: probe(mailbox),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(node.find("malformed mailbox message dropped").length).toBeGreaterThan(100);
    expect(node.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the PUB takes 1,000 malformed subscriptions and still serves", async () => {
    const { node, mailbox } = await lone(await freeUdpPort());
    const pub = (await node.waitForLog("listening", WAIT_MS)).pub as string;
    const report = await fuzzRole(node, {
      endpoint: pub,
      peer: "xsub",
      words: [TOPIC_UPDATE, TOPIC_SERVERS],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: probe(mailbox),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });

  it("the SUB, connected to a fake member found by beacon, takes 1,000 malformed bus messages", async () => {
    const beaconPort = await freeUdpPort();
    const { node, mailbox } = await lone(beaconPort);
    const endpoint = await freeTcpEndpoint();
    const port = Number(endpoint.slice(endpoint.lastIndexOf(":") + 1));
    // The fuzzer poses as member "intruder": its beacon points the node's SUB at the fuzzer's PUB.
    const udp = createSocket("udp4");
    const beacon = encodeBeacon({ id: "intruder", inc: 0, mailboxPort: 9, pubPort: port, rank: 9 });
    const timer = setInterval(() => udp.send(beacon, beaconPort, "127.0.0.1"), 200);
    try {
      const report = await fuzzRole(node, {
        endpoint,
        peer: "pub",
        bind: true,
        words: [TOPIC_UPDATE, TOPIC_SERVERS],
        fields: ["v", "from", "entry", "key", "value", "clock", "origin", "deleted", "coordinator", "rank", "inc"],
        maxMessageBytes: MAX_MESSAGE_BYTES,
        maxRssMiB: MAX_RSS_MIB,
        probe: probe(mailbox),
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(node.find("malformed bus message dropped").length).toBeGreaterThan(100);
    } finally {
      clearInterval(timer);
      udp.close();
    }
  });

  it("the beacon port takes 1,000 malformed datagrams (mutated beacons among them) and the node still serves", async () => {
    const beaconPort = await freeUdpPort();
    const { node, mailbox } = await lone(beaconPort);
    const random = seededRandom(23);
    const valid = encodeBeacon({ id: "someone", inc: 1, mailboxPort: 9, pubPort: 9, rank: 1 });
    const udp = createSocket("udp4");
    for (let i = 0; i < 1000; i++) {
      let d: Buffer;
      if (i % 3 === 0) {
        d = Buffer.from(valid);
        for (let k = 0; k < 1 + Math.floor(random() * 3); k++) d[Math.floor(random() * d.length)] = Math.floor(random() * 256);
        if (d.equals(valid)) d[0] = 0;
      } else if (i % 3 === 1)
        d = Buffer.concat([valid.subarray(0, Math.floor(random() * valid.length)), Buffer.alloc(Math.floor(random() * 200), 0xff)]);
      else d = Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
      await new Promise<void>((resolve) => udp.send(d, beaconPort, "127.0.0.1", () => resolve()));
      // A breath now and then: the kernel drops datagrams past the socket's buffer, not the node.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
    }
    udp.close();
    await probe(mailbox)();
    expect(node.running).toBe(true);
    // At least two thirds are malformed; UDP may lose some of them on a loaded machine.
    expect(node.find("datagram that is not a beacon dropped").length).toBeGreaterThan(200);
    expect(node.find("message dropped: its handling failed")).toEqual([]);
  });
});
