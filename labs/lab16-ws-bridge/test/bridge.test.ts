// The bridge in-process with real sockets: a test XPUB upstream (it sees the SUB's subscriptions)
// and Node WebSocket clients as browsers.
import { encode } from "@zlabs/kit";
import { Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { XPublisher } from "zeromq";
import { encodeHeartbeat, encodeSample, NOTICE_REFUSED, NOTICE_SUBSCRIBED } from "../internal/protocol.ts";
import { type BridgeConfig, ZmqBridge } from "../internal/zmq-bridge.ts";
import { isData, WsClient } from "./fixtures.ts";

const tasks = new Tasks();
const clients: WsClient[] = [];
const sockets: XPublisher[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.close();
  await tasks.stopAll();
});

async function start(over: Partial<BridgeConfig> = {}) {
  const bridge = new ZmqBridge(
    {
      http: "127.0.0.1:0",
      upstream: "tcp://127.0.0.1:*",
      connect: [],
      allowOrigins: [],
      slowBufferBytes: 1024 * 1024,
      slowDisconnectMs: 5000,
      pingMs: 30_000,
      maxClients: 1000,
      ...over,
    },
    testLogger("lab16"),
  );
  const url = await bridge.start();
  tasks.run((signal) => bridge.run(signal));
  const pub = new XPublisher({ linger: 0 });
  sockets.push(pub);
  pub.connect(bridge.upstreamEndpoint);
  const origin = url.replace(/\/$/, "");
  const browser = async (o: string | undefined = origin) => {
    const c = new WsClient(url, o);
    clients.push(c);
    await c.open();
    return c;
  };
  /** The next subscription message the SUB sent upstream, as "+prefix" / "-prefix". */
  const upstreamSub = async () => {
    const [frame] = await withDeadline(pub.receive(), 5000, "a subscription upstream");
    return `${frame?.[0] === 1 ? "+" : "-"}${frame?.subarray(1).toString()}`;
  };
  return { bridge, url, origin, pub, browser, upstreamSub };
}

const subscribed = (prefix: string) => (m: { kind: string; code?: number; text?: string }) =>
  m.kind === "notice" && m.code === NOTICE_SUBSCRIBED && m.text === prefix;

const hb = (agent: string, seq: number) =>
  encodeHeartbeat({
    v: 1,
    agent,
    rack: "r1",
    incarnation: "i1",
    seq,
    sentAt: Date.now(),
    intervalMs: 1000,
    level: "ok",
    metrics: { cpu: 0.1, memUsedBytes: 1, memTotalBytes: 2, load1: 0, load5: 0, load15: 0, uptimeSec: 1 },
  });
const sample = (topic: string, seq: number, value: number) =>
  encodeSample({ topic, header: { v: 1, source: "t", seq, ts: Date.now(), units: "bar", schema: "f64le", count: 1 }, values: [value] });

describe("the bridge with real sockets", () => {
  it("subscribes upstream to the reference-counted union of the browsers' prefixes; the last unsub removes it", async () => {
    const { bridge, browser, upstreamSub } = await start();
    const a = await browser();
    const b = await browser();
    a.subscribe("plant3.");
    expect(await upstreamSub()).toBe("+plant3.");
    b.subscribe("plant3.");
    b.subscribe("hb.");
    expect(await upstreamSub()).toBe("+hb.");
    await b.waitFor("b's hb. ack", subscribed("hb."));
    expect(Object.fromEntries(bridge.fanout.refs)).toEqual({ "plant3.": 2, "hb.": 1 });
    a.unsubscribe("plant3.");
    await waitUntil(() => bridge.fanout.refs.get("plant3.") === 1, { timeoutMs: 5000, what: "one holder left" });
    b.close(); // b leaves without unsubscribing: its prefixes go with it
    const gone = [await upstreamSub(), await upstreamSub()].sort();
    expect(gone).toEqual(["-hb.", "-plant3."]);
    expect(bridge.fanout.refs.size).toBe(0);
  });

  it("each browser gets exactly its topics, each ZeroMQ multipart message as one WebSocket message", async () => {
    const { pub, browser, upstreamSub } = await start();
    const agents = await browser();
    const pumps = await browser();
    agents.subscribe("hb.");
    pumps.subscribe("plant3.pump1.");
    pumps.subscribe("plant3.pump1.flow"); // overlapping prefixes: still one copy per message
    await upstreamSub();
    await upstreamSub();
    await upstreamSub();
    const sent = [
      hb("a1", 1),
      sample("plant3.pump1.flow", 1, 120.5),
      sample("plant3.boiler.temp", 1, 80),
      hb("a2", 1),
      sample("plant3.pump1.flow", 2, 121),
    ];
    for (const m of sent) await pub.send(m);
    await waitUntil(() => agents.topics().length >= 2 && pumps.topics().length >= 2, { timeoutMs: 5000, what: "deliveries" });
    await pub.send(sample("plant3.end", 1, 0));
    expect(agents.topics()).toEqual(["hb.ok.r1.a1.", "hb.ok.r1.a2."]);
    expect(pumps.topics()).toEqual(["plant3.pump1.flow", "plant3.pump1.flow"]);
    const first = pumps.messages.find((m) => m.kind === "live");
    expect(first?.kind === "live" && first.frames.map((f) => Buffer.from(f))).toEqual(sent[1]);
    const seqs = pumps.messages.flatMap((m) => (m.kind === "live" ? [m.seq] : []));
    expect(seqs).toEqual([1, 2]);
  });

  it("a late browser gets the last value of every topic under its prefix at once", async () => {
    const { pub, browser, upstreamSub } = await start();
    const early = await browser();
    early.subscribe("plant3.");
    await upstreamSub();
    for (let i = 1; i <= 3; i++) await pub.send(sample("plant3.pump1.flow", i, 100 + i));
    await pub.send(sample("plant3.boiler.temp", 1, 80));
    await early.waitFor("the early browser's samples", isData("plant3.boiler.temp"));
    const late = await browser();
    late.subscribe("plant3.pump1.");
    await late.waitFor("the ack", subscribed("plant3.pump1."));
    const cached = await late.waitFor("the cached value", (m) => m.kind === "cached");
    const expected = sample("plant3.pump1.flow", 3, 103);
    if (cached.kind !== "cached") throw new Error("not a cached message");
    expect([cached.frames[0], cached.frames[2]]).toEqual([expected[0], expected[2]]);
    const ack = late.messages.find(subscribed("plant3.pump1."));
    expect(ack?.kind === "notice" && ack.value).toBe(1);
    expect(late.topics()).toEqual(["plant3.pump1.flow"]);
  });

  it("a slow browser is dropped to, counted, then disconnected; a fast browser loses nothing", async () => {
    const { bridge, pub, browser, upstreamSub } = await start({ slowBufferBytes: 64 * 1024, slowDisconnectMs: 300 });
    const fast = await browser();
    const slow = await browser();
    fast.subscribe("plant3.");
    slow.subscribe("plant3.");
    await upstreamSub();
    await fast.waitFor("fast ack", subscribed("plant3."));
    await slow.waitFor("slow ack", subscribed("plant3."));
    // The slow browser stops reading: its TCP window fills, then the bridge's send buffer for it.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = new Array(2048).fill(1.5);
    const live = (c: WsClient) => c.messages.filter((m) => m.kind === "live").length;
    let sent = 0;
    while (bridge.stats.slowDisconnects === 0 && sent < 20_000) {
      // 3 messages of 16 KiB, then the next 3 once the fast browser has these: a fast browser is one
      // that keeps up, so it never has more than 48 KiB waiting, under the 64 KiB limit, however
      // loaded the machine (it shares this process's event loop with the bridge).
      for (let i = 0; i < 3; i++) {
        await pub.send(
          encodeSample({
            topic: "plant3.pump1.flow",
            header: { v: 1, source: "t", seq: ++sent, ts: 0, units: "", schema: "f64le", count: 2048 },
            values: big,
          }),
        );
      }
      await waitUntil(() => live(fast) >= sent, { timeoutMs: 20_000, everyMs: 1, what: `the fast browser to get message ${sent}` });
    }
    expect(bridge.stats.slowDisconnects).toBe(1);
    expect(bridge.stats.slowDrops).toBeGreaterThan(0);
    await waitUntil(() => fast.topics().length >= bridge.stats.upstream, {
      timeoutMs: 20_000,
      what: "the fast browser to get every message",
    });
    const seqs = fast.messages.flatMap((m) => (m.kind === "live" ? [m.seq] : []));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1)); // no gap for the fast one
    expect(bridge.clients.size).toBe(1);
  });

  it("refuses a wrong or missing Origin, closes on text frames (1003) and oversized ones (1009), refuses bad subscriptions", async () => {
    const { bridge, url, pub, browser, upstreamSub } = await start();
    await expect(new WsClient(url, "http://evil.example").open()).rejects.toThrow("HTTP 403");
    await expect(new WsClient(url, undefined).open()).rejects.toThrow("HTTP 403");
    expect(bridge.stats.refusedOrigin).toBe(2);
    const text = await browser();
    text.ws.send("sub hb.");
    expect((await text.waitClosed()).code).toBe(1003);
    const big = await browser();
    big.ws.send(Buffer.alloc(300, 1));
    expect((await big.waitClosed()).code).toBe(1009);
    const bad = await browser();
    bad.ws.send(Buffer.from([0x01, ...Buffer.from("hb.*")]));
    bad.ws.send(Buffer.from([0x07]));
    bad.ws.send(Buffer.alloc(0));
    await waitUntil(() => bad.messages.filter((m) => m.kind === "notice" && m.code === NOTICE_REFUSED).length === 3, {
      timeoutMs: 5000,
      what: "3 refusals",
    });
    for (let i = 0; i < 7; i++) bad.ws.send(Buffer.from([0x09]));
    expect((await bad.waitClosed()).code).toBe(1008);
    // And still it serves a browser.
    const good = await browser();
    good.subscribe("hb.");
    await upstreamSub();
    await pub.send(hb("after", 1));
    await good.waitFor("a heartbeat", isData("hb.ok.r1.after."));
  });

  it("1,000 connect/disconnect cycles leave no browser, subscription, handle or memory behind", async () => {
    const { bridge, browser, upstreamSub, pub } = await start();
    const keeper = await browser();
    keeper.subscribe("keep.");
    await upstreamSub();
    const cycle = async (i: number) => {
      const c = await browser();
      c.subscribe(`t${i % 7}.`);
      await c.waitFor("ack", (m) => m.kind === "notice" && m.code === NOTICE_SUBSCRIBED);
      c.ws.close();
      await c.waitClosed();
      clients.splice(clients.indexOf(c), 1);
    };
    for (let i = 0; i < 100; i++) await cycle(i); // warm-up
    await waitUntil(() => bridge.clients.size === 1, { timeoutMs: 10_000, what: "warm-up browsers gone" });
    global.gc?.();
    const handles0 = process.getActiveResourcesInfo().length;
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => cycle(i + k)));
    await waitUntil(() => bridge.clients.size === 1, { timeoutMs: 10_000, what: "every cycled browser gone" });
    expect(bridge.stats.connects).toBe(1 + 100 + 1000);
    expect(Object.fromEntries(bridge.fanout.refs)).toEqual({ "keep.": 1 });
    await waitUntil(() => process.getActiveResourcesInfo().length <= handles0 + 5, {
      timeoutMs: 10_000,
      what: "handles back to where they were",
    });
    const growthMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;
    expect(growthMiB).toBeLessThan(64);
    // The upstream union is back to the keeper's prefix alone, and data still flows.
    await pub.send([Buffer.from("keep.x"), encode({ v: 1 })]);
    await keeper.waitFor("keep.x", isData("keep.x"));
  });
});
