// Every socket a broker binds, fuzzed with the kit's helper against the real process: the clients'
// ROUTER and the state XPUB; and the state SUB, which connects (to the peer's PUB), through a
// hostile PUB the fuzzer binds where the peer's would be. After each, the broker must still hand
// out a ticket.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Request } from "zeromq";
import { decodeReply, encodeRequest, MAX_REQUEST_BYTES, MAX_STATE_BYTES } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const HB = 100;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

let seq = 0;
/** One ticket from the broker, as the client would ask: a new socket per attempt. */
async function probe(front: string): Promise<void> {
  seq += 1;
  for (let attempt = 1; ; attempt++) {
    const req = new Request({ linger: 0, receiveTimeout: 5000 });
    req.connect(front);
    try {
      await req.send(encodeRequest({ v: 1, seq, client: "probe" }));
      const reply = decodeReply((await withDeadline(req.receive(), 10_000, "the probe's ticket"))[0]);
      if (reply.ok && reply.value.seq === seq && reply.value.ticket >= 1) return;
      throw new Error(`the probe got ${JSON.stringify(reply)}`);
    } catch (err) {
      if ((err as { code?: string }).code !== "EAGAIN" || attempt === 3) throw err;
    } finally {
      req.close();
    }
  }
}

/** A primary whose peer state endpoint is `peerState` (nobody, or the fuzzer): active after two heartbeats. */
async function start(): Promise<{ broker: RoleProcess; front: string; stateBind: string; peerState: string }> {
  const [front, stateBind, peerState] = (await freeTcpEndpoints(3)) as [string, string, string];
  const broker = procs.start({
    labDir,
    cmd: "cmd/ha-broker.ts",
    name: "primary",
    args: ["--role", "primary", "--front", front, "--state-bind", stateBind, "--peer-state", peerState, "--heartbeat", String(HB)],
  });
  await broker.waitForLog("listening", WAIT_MS);
  await probe(front);
  await broker.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS);
  return { broker, front, stateBind, peerState };
}

describe("fuzzing the ha-broker", () => {
  it("the clients' ROUTER takes 1,000 malformed requests and still hands out a ticket", async () => {
    const { broker, front } = await start();
    const report = await fuzzRole(broker, {
      endpoint: front,
      peer: "dealer",
      envelope: true,
      fields: ["v", "seq", "client"],
      maxMessageBytes: MAX_REQUEST_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("malformed request dropped").length).toBeGreaterThan(100);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the state SUB takes 1,000 malformed messages from a hostile PUB where the peer's should be, and still hands out a ticket", async () => {
    const { broker, front, peerState } = await start();
    const report = await fuzzRole(broker, {
      endpoint: peerState,
      peer: "pub",
      bind: true,
      // The Guide's states are one ASCII digit: the words are near misses ("0", "5", "33", "3\n").
      words: ["0", "5", "33", "3\n", " 3", "\u0003"],
      maxMessageBytes: MAX_STATE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("invalid message on the state link dropped").length).toBeGreaterThan(100);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
    // Nothing the fuzzer sent was a state: the broker is still the active primary it was.
    expect(broker.find({ msg: "state changed" })).toHaveLength(1);
    expect(broker.find("peer heard")).toEqual([]);
  });

  it("the state PUB (an XPUB reading subscriptions) takes 1,000 malformed messages from a hostile subscriber, and still hands out a ticket", async () => {
    const { broker, front, stateBind } = await start();
    const report = await fuzzRole(broker, {
      endpoint: stateBind,
      peer: "xsub",
      words: ["\u0001", "\u0000", "\u00013", "\u0002"],
      maxMessageBytes: MAX_STATE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("invalid message on the state PUB dropped").length).toBeGreaterThan(100);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
    expect(broker.find({ msg: "state changed" })).toHaveLength(1);
  });
});
