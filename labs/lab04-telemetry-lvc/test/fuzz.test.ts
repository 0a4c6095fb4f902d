// Every bound socket of every role, fuzzed as a real process (issue 10). lab04 binds two, both the
// broker's: the XSUB front (what a publisher can send: anything, as a PUB/XPUB peer) and the XPUB
// back (what a subscriber can send: subscriptions and any other message, as an XSUB peer).
// The analyst terminal binds nothing, but it decodes what arrives; it is fuzzed through a plain
// XSUB-XPUB proxy (which, unlike the broker, passes everything on) that it connects to.
import { fileURLToPath } from "node:url";
import { seededRandom } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, SocketJar, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Subscriber, XPublisher, XSubscriber, Proxy as ZmqProxy } from "zeromq";
import { decodeSubscription, encodeSample, MAX_SAMPLE_FRAME_BYTES, MAX_SUBSCRIPTION_BYTES, SCHEMA } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
const jar = new SocketJar();
const proxies: ZmqProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) p.terminate();
  jar.closeAll();
  await procs.stopAll();
});

const HEADER_FIELDS = ["v", "source", "seq", "ts", "units", "schema", "count"];
const TOPICS = ["plant1.pump1.pressure", "plant1.", "a", "a.b.c", "probe.fuzz"];

async function startBroker(...args: string[]): Promise<{ broker: RoleProcess; front: string; back: string }> {
  const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
  const broker = procs.start({ labDir, cmd: "cmd/lvc-broker.ts", name: "broker", args: ["--front", front, "--back", back, ...args] });
  await broker.waitForLog("listening", WAIT_MS);
  return { broker, front, back };
}

/**
 * A valid exchange through the broker: a publisher on the front, once the broker's subscription
 * has reached it, publishes a sample until a new subscriber on the back has it (live or replayed).
 */
async function sampleGoesThrough(front: string, back: string): Promise<void> {
  const pub = jar.add(new XPublisher({ receiveTimeout: WAIT_MS }));
  pub.connect(front);
  await pub.receive();
  const sub = jar.add(new Subscriber());
  sub.connect(back);
  sub.subscribe("probe.");
  let seq = 0;
  const header = () => ({ v: 1, source: "probe", seq: ++seq, ts: Date.now(), units: "n", schema: SCHEMA, count: 1 });
  const pump = setInterval(() => void pub.send(encodeSample({ topic: "probe.ok", header: header(), values: [42] })).catch(() => {}), 50);
  try {
    const [topic] = await withDeadline(sub.receive(), WAIT_MS, "the probe sample through the broker");
    expect(String(topic)).toBe("probe.ok");
  } finally {
    clearInterval(pump);
    pub.close();
    sub.close();
  }
}

describe("fuzz", () => {
  it("the broker's XSUB front survives 1,000+ hostile messages from a publisher and still forwards a sample", async () => {
    const { broker, front, back } = await startBroker();
    const report = await fuzzRole(broker, {
      endpoint: front,
      peer: "pub",
      words: TOPICS,
      fields: HEADER_FIELDS,
      maxMessageBytes: MAX_SAMPLE_FRAME_BYTES,
      maxRssMiB: 250,
      probe: () => sampleGoesThrough(front, back),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    // The fuzzer goes on sending while libzmq has dropped its connection for an over-limit frame,
    // so not all of it arrives; hundreds do.
    expect(broker.find("malformed sample dropped").length).toBeGreaterThan(100);
  });

  it("the broker's XPUB back survives 1,000+ hostile messages from a subscriber and still serves one", async () => {
    const { broker, front, back } = await startBroker();
    const report = await fuzzRole(broker, {
      endpoint: back,
      peer: "xsub",
      words: TOPICS.flatMap((t) => [`\x01${t}`, `\x00${t}`]),
      fields: HEADER_FIELDS,
      maxMessageBytes: MAX_SUBSCRIPTION_BYTES,
      maxRssMiB: 250,
      probe: () => sampleGoesThrough(front, back),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });

  it("the broker's XPUB back counts and drops 1,000 random subscriptions within its limit, and forwards none upstream", async () => {
    // A quarter of the kit's fuzz is over 1 KiB, which makes libzmq drop the fuzzer's connection
    // and lose what it sends until it reconnects; these all fit, so every one reaches the broker.
    const upstream = jar.add(new XPublisher({ verbosity: "allSubsUnsubs" }));
    await upstream.bind("tcp://127.0.0.1:*");
    const { broker, front, back } = await startBroker("--publisher", upstream.lastEndpoint as string);
    const forwarded: Buffer[] = [];
    void (async () => {
      for await (const [frame] of upstream) forwarded.push(frame as Buffer);
    })().catch(() => {});
    const peer = jar.add(new XSubscriber({ sendHighWaterMark: 5000 }));
    peer.connect(back);
    const random = seededRandom(10);
    let subscriptions = 0;
    for (let i = 0; i < 1000; i++) {
      const frame = Buffer.alloc(1 + Math.floor(random() * (MAX_SUBSCRIPTION_BYTES - 1)));
      for (let b = 1; b < frame.length; b++) frame[b] = Math.floor(random() * 256);
      frame[0] = random() < 0.9 ? 1 : Math.floor(random() * 256);
      if (frame[0] === 1) subscriptions += 1;
      await peer.send(frame);
    }
    await peer.send(Buffer.from("\x01probe.last"));
    await broker.waitForLog({ msg: "subscribed; cache replayed", prefix: "probe.last" }, WAIT_MS);
    expect(broker.find("bad subscription dropped").length).toBeGreaterThanOrEqual(subscriptions);
    expect(broker.running).toBe(true);
    await sampleGoesThrough(front, back);
    // What reached the publishers upstream: only subscriptions to valid prefixes.
    const last = Buffer.from("\x01probe.last");
    await waitUntil(() => forwarded.some((f) => f.equals(last)), { timeoutMs: WAIT_MS, what: "probe.last upstream" });
    expect(forwarded.filter((f) => decodeSubscription([f]).kind === "invalid")).toEqual([]);
  });

  it("the analyst terminal's SUB survives 1,000+ hostile messages from a publisher and still shows a valid sample", async () => {
    const proxy = new ZmqProxy(new XSubscriber({ linger: 0 }), new XPublisher({ linger: 0 }));
    proxies.push(proxy);
    await proxy.frontEnd.bind("tcp://127.0.0.1:*");
    await proxy.backEnd.bind("tcp://127.0.0.1:*");
    void proxy.run();
    const [publishers, terminalSide] = [proxy.frontEnd.lastEndpoint as string, proxy.backEnd.lastEndpoint as string];
    const terminal = procs.start({
      labDir,
      cmd: "cmd/analyst-terminal.ts",
      name: "terminal",
      args: ["--broker", terminalSide],
    });
    await terminal.waitForLog("watching", WAIT_MS);
    const report = await fuzzRole(terminal, {
      endpoint: publishers,
      peer: "pub",
      words: TOPICS,
      fields: HEADER_FIELDS,
      maxMessageBytes: MAX_SAMPLE_FRAME_BYTES,
      maxRssMiB: 250,
      probe: async () => {
        const pub = jar.add(new XPublisher({ receiveTimeout: WAIT_MS }));
        pub.connect(publishers);
        await pub.receive();
        const header = { v: 1, source: "probe", seq: 1, ts: Date.now(), units: "n", schema: SCHEMA, count: 1 };
        const pump = setInterval(() => void pub.send(encodeSample({ topic: "probe.ok", header, values: [7] })).catch(() => {}), 50);
        try {
          await terminal.waitForLog({ msg: "first value", topic: "probe.ok" }, WAIT_MS);
        } finally {
          clearInterval(pump);
          pub.close();
        }
      },
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(terminal.find("malformed sample dropped").length).toBeGreaterThan(100);
  });
});
