// Issue 10, found case 4: one huge subscription message to the broker's XPUB must neither make the
// broker allocate without bound nor travel upstream to the sources. The real broker and source
// processes; the subscriptions come from a hand-written SUB peer; the test plays one more
// publisher, to see what the broker forwards upstream.
import { fileURLToPath } from "node:url";
import {
  freeTcpEndpoints,
  ProcessPool,
  quiescent,
  type RawSubscriber,
  rawSubscriber,
  rssMiB,
  SocketJar,
  waitUntil,
  withDeadline,
} from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Subscriber, XPublisher } from "zeromq";
import { MAX_TOPIC_LENGTH } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const BIG = 10 * 1000 * 1000;
/** What a process may grow by while the broker refuses the big subscriptions (V8 and libzmq noise). */
const RSS_SLACK_MIB = 40;

const procs = new ProcessPool();
const jar = new SocketJar();
const peers: RawSubscriber[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  jar.closeAll();
  await procs.stopAll();
});

describe("a subscriber's message size", () => {
  it("three 10 MB subscriptions leave the broker's and the source's memory where it was, and none goes upstream", async () => {
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const upstream = jar.add(new XPublisher({ verbosity: "allSubsUnsubs" }));
    await upstream.bind("tcp://127.0.0.1:*");
    const events: Buffer[] = [];
    const collecting = (async () => {
      for await (const [frame] of upstream) events.push(frame as Buffer);
    })().catch(() => {});
    const broker = procs.start({
      labDir,
      cmd: "cmd/lvc-broker.ts",
      name: "broker",
      args: ["--front", front, "--back", back, "--publisher", upstream.lastEndpoint as string],
    });
    await broker.waitForLog("listening", WAIT_MS);
    const source = procs.start({
      labDir,
      cmd: "cmd/telemetry-source.ts",
      name: "source",
      args: ["--site", "plant7", "--broker", front, "--interval", "100"],
    });
    await source.waitForLog("publishing", WAIT_MS);
    const terminal = jar.add(new Subscriber());
    terminal.connect(back);
    terminal.subscribe("plant7.");
    await withDeadline(terminal.receive(), WAIT_MS, "a sample through the broker");
    const pids = { broker: broker.pid as number, source: source.pid as number };
    const before = { broker: rssMiB(pids.broker), source: rssMiB(pids.source) };

    const peer = rawSubscriber(
      back,
      [0x61, 0x62, 0x63].map((c) => Buffer.alloc(BIG, c)),
    );
    peers.push(peer);
    await quiescent(pids.broker);
    await quiescent(pids.source);
    const after = { broker: rssMiB(pids.broker), source: rssMiB(pids.source) };
    const grew = `RSS before ${JSON.stringify(before)}, after ${JSON.stringify(after)} MiB`;
    expect(after.broker, grew).toBeLessThanOrEqual(before.broker + RSS_SLACK_MIB);
    expect(after.source, grew).toBeLessThanOrEqual(before.source + RSS_SLACK_MIB);
    await withDeadline(peer.closedByPeer, WAIT_MS, "the broker dropping the connection of the oversized subscriber");

    // A valid subscription after them reaches upstream; nothing larger than a topic went before it.
    const probe = jar.add(new Subscriber());
    probe.connect(back);
    probe.subscribe("probe.");
    const probed = Buffer.from("\x01probe.");
    await waitUntil(() => events.some((e) => e.equals(probed)), { timeoutMs: WAIT_MS, what: "the probe's subscription upstream" });
    expect(Math.max(...events.map((e) => e.length))).toBeLessThanOrEqual(1 + MAX_TOPIC_LENGTH);
    expect(broker.running && source.running).toBe(true);
    upstream.close();
    await collecting;
  });
});
