// The broker in-process over real sockets, with publishers and subscribers from the tests.
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Subscriber, XPublisher, XSubscriber } from "zeromq";
import { LvcBroker } from "../internal/lvc-broker.ts";
import { decodePayload, decodeSample, encodeSample, type SampleHeader, SCHEMA } from "../internal/protocol.ts";

const log = testLogger("lab04");
const WAIT_MS = 10_000;
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

async function startBroker(maxTopics = 100) {
  const broker = new LvcBroker({ front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, maxTopics, maxAgeMs: 0 }, log, () => {});
  await broker.bind();
  void tasks.run((s) => broker.run(s));
  return broker;
}

let seq = 0;
function sample(topic: string, value: number, source = "src") {
  seq += 1;
  const header: SampleHeader = { v: 1, source, seq, ts: Date.now(), units: "bar", schema: SCHEMA, count: 1 };
  return encodeSample({ topic, header, values: [value] });
}

/**
 * A publisher the broker connects to, ready once the broker's subscription has reached it, so
 * that every sample it sends arrives exactly once (a PUB drops what it sends before that).
 */
async function publisher(broker: LvcBroker) {
  const pub = jar.add(new XPublisher({ receiveTimeout: WAIT_MS }));
  await pub.bind(ANY_LOOPBACK_TCP);
  broker.connectPublisher(pub.lastEndpoint as string);
  const [subscription] = await withDeadline(pub.receive(), WAIT_MS, "the broker's subscription");
  expect(subscription?.[0]).toBe(1);
  return pub;
}

/** Sends one sample and waits until the broker has cached it. */
async function publishCached(broker: LvcBroker, pub: XPublisher, topic: string, value: number) {
  await pub.send(sample(topic, value));
  await waitUntil(() => broker.cache.matching(topic).some((e) => decodePayload(e.payload)[0] === value), {
    timeoutMs: WAIT_MS,
    what: `${topic} cached`,
  });
}

async function subscriber(broker: LvcBroker, ...prefixes: string[]) {
  const sub = jar.add(new Subscriber({ receiveTimeout: WAIT_MS }));
  sub.connect(broker.endpoints.back);
  sub.subscribe(...prefixes);
  return sub;
}

async function next(sub: Subscriber): Promise<{ topic: string; header: SampleHeader; value: number }> {
  const sample = decodeSample(await withDeadline(sub.receive(), WAIT_MS, "a sample"));
  if (sample.kind !== "sample") throw new Error(sample.reason);
  return { topic: sample.topic, header: sample.header, value: decodePayload(sample.payload)[0] as number };
}

describe("the last value cache over real sockets", () => {
  it("serves a late joiner at once from the cache, with no publish after it joined", async () => {
    const broker = await startBroker();
    const pub = await publisher(broker);
    await publishCached(broker, pub, "plant1.pump1.pressure", 6.5);
    const published = broker.forwarded;
    const sub = await subscriber(broker, "plant1.pump1.pressure");
    expect(await next(sub)).toMatchObject({ topic: "plant1.pump1.pressure", value: 6.5, header: { units: "bar" } });
    expect(broker.forwarded).toBe(published);
    expect(broker.replayed).toBe(1);
  });

  it("replays to a second subscriber of the same topic too (XPUB reports every subscription)", async () => {
    const broker = await startBroker();
    await publishCached(broker, await publisher(broker), "plant1.pump1.flow", 120);
    const first = await subscriber(broker, "plant1.pump1.flow");
    expect((await next(first)).value).toBe(120);
    const second = await subscriber(broker, "plant1.pump1.flow");
    expect((await next(second)).value).toBe(120);
    // The view's count of subscribers: two now; one once a subscriber is gone (libzmq unsubscribes for it).
    expect(broker.subscriptions.get("plant1.pump1.flow")).toEqual({ prefix: "plant1.pump1.flow", subscribers: 2, replayed: 2 });
    expect(broker.view().summary).toContain("subscribed: plant1.pump1.flow ×2 (2 replayed)");
    first.close();
    await waitUntil(() => broker.subscriptions.get("plant1.pump1.flow")?.subscribers === 1, {
      timeoutMs: WAIT_MS,
      what: "the closed subscriber unsubscribed",
    });
    second.close();
    await waitUntil(() => broker.subscriptions.size === 0, { timeoutMs: WAIT_MS, what: "no subscriber left" });
  });

  it("replays every cached topic under a prefix, header and payload together", async () => {
    const broker = await startBroker();
    const pub = await publisher(broker);
    await publishCached(broker, pub, "p1.a.x", 1);
    await publishCached(broker, pub, "p1.b.y", 2);
    await publishCached(broker, pub, "p2.a.x", 3);
    const sub = await subscriber(broker, "p1.");
    const got = [await next(sub), await next(sub)];
    expect(got.map((g) => [g.topic, g.value]).sort()).toEqual([
      ["p1.a.x", 1],
      ["p1.b.y", 2],
    ]);
    expect(got.every((g) => g.header.schema === SCHEMA && g.header.count === 1)).toBe(true);
  });

  it("bounds the cache: only the most recently updated topics are replayed", async () => {
    const broker = await startBroker(3);
    const pub = await publisher(broker);
    for (let i = 1; i <= 5; i++) await publishCached(broker, pub, `t.${i}`, i);
    expect(broker.cache.size).toBe(3);
    const sub = await subscriber(broker, "");
    const got = [await next(sub), await next(sub), await next(sub)].map((g) => g.topic).sort();
    expect(got).toEqual(["t.3", "t.4", "t.5"]);
  });

  it("keeps the cache across a publisher restart, and the new publisher's values flow", async () => {
    const broker = await startBroker();
    const first = await publisher(broker);
    await publishCached(broker, first, "plant2.pump1.pressure", 5);
    first.close();
    const sub = await subscriber(broker, "plant2.");
    expect((await next(sub)).value).toBe(5);
    const second = await publisher(broker);
    await publishCached(broker, second, "plant2.pump1.pressure", 7);
    let latest = await next(sub);
    while (latest.value !== 7) latest = await next(sub);
    expect(latest.topic).toBe("plant2.pump1.pressure");
  });

  it("drops and counts malformed samples from a publisher, and forwards the next good one", async () => {
    const broker = await startBroker();
    const pub = await publisher(broker);
    await publishCached(broker, pub, "ok.topic", 1);
    await pub.send(["bad.topic", "not msgpack", Buffer.alloc(8)]);
    await pub.send(["two.frames", Buffer.from("x")]);
    const frames = sample("short.payload", 1);
    await pub.send([frames[0] as Buffer, frames[1] as Buffer, Buffer.alloc(3)]);
    await waitUntil(() => broker.malformed === 3, { timeoutMs: WAIT_MS, what: "three malformed samples" });
    expect(broker.stats.front.failed).toBe(0);
    await publishCached(broker, pub, "ok.topic", 2);
    expect(broker.cache.matching("")).toHaveLength(1);
  });

  it("forwards subscriptions and unsubscriptions upstream to the publishers", async () => {
    const broker = await startBroker();
    const pub = jar.add(new XPublisher({ receiveTimeout: WAIT_MS }));
    await pub.bind(ANY_LOOPBACK_TCP);
    // The test's XPUB plays the publisher, to see what reaches publishers.
    const events: string[] = [];
    const collect = async () => {
      const [frame] = await withDeadline(pub.receive(), WAIT_MS, "a subscription event");
      events.push(`${frame?.[0]}:${frame?.subarray(1).toString()}`);
    };
    broker.connectPublisher(pub.lastEndpoint as string);
    await collect();
    expect(events).toEqual(["1:"]);
    const sub = await subscriber(broker, "plant9.");
    await collect();
    sub.unsubscribe("plant9.");
    await collect();
    expect(events).toEqual(["1:", "1:plant9.", "0:plant9."]);
  });

  it("drops a message on the XPUB that is not a valid subscription, and forwards nothing of it upstream", async () => {
    const broker = await startBroker();
    const pub = jar.add(new XPublisher({ receiveTimeout: WAIT_MS }));
    await pub.bind(ANY_LOOPBACK_TCP);
    broker.connectPublisher(pub.lastEndpoint as string);
    expect((await withDeadline(pub.receive(), WAIT_MS, "the broker's own subscription"))[0]).toEqual(Buffer.from([1]));
    const peer = jar.add(new XSubscriber());
    peer.connect(broker.endpoints.back);
    await peer.send(Buffer.from("\x01has space"));
    await peer.send(Buffer.concat([Buffer.from([1]), Buffer.alloc(201, 0x61)]));
    await peer.send(Buffer.from("hello"));
    await peer.send(Buffer.from("\x01ok."));
    const [next] = await withDeadline(pub.receive(), WAIT_MS, "the valid subscription upstream");
    expect(String(next)).toBe("\x01ok.");
    await waitUntil(() => broker.badSubscriptions === 3, { timeoutMs: WAIT_MS, what: "three bad subscriptions counted" });
  });
});
