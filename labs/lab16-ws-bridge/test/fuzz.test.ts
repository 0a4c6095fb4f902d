// The bridge's bound SUB fuzzed with the kit's helper, and its WebSocket endpoint with hostile
// frames; after each, the real process is alive and still serves the page and a browser.
import { connect } from "node:net";
import { encode, seededRandom } from "@zlabs/kit";
import { fuzzRole, ProcessPool, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher } from "zeromq";
import { encodeControl, MAX_UPSTREAM_FRAME_BYTES } from "../internal/protocol.ts";
import { isData, type Running, startBridge, WsClient } from "./fixtures.ts";

const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const open: WsClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await procs.stopAll();
});

async function browser(r: Running, origin: string | undefined = r.origin): Promise<WsClient> {
  const c = new WsClient(r.url, origin);
  open.push(c);
  await c.open();
  return c;
}

/** A valid message through the bridge: a PUB publishes, a browser subscribed to it gets it. */
async function probe(r: Running): Promise<void> {
  const page = await withDeadline(fetch(r.url), 10_000, "the page");
  expect(page.status).toBe(200);
  const c = await browser(r);
  const topic = `probe${Date.now()}.`;
  c.subscribe(topic);
  await c.waitFor("the ack", (m) => m.kind === "notice");
  const pub = new Publisher({ linger: 0 });
  pub.connect(r.upstream);
  try {
    const deadline = performance.now() + 15_000;
    while (!c.messages.some(isData(topic))) {
      if (performance.now() > deadline) throw new Error("the probe's message never reached the browser");
      await pub.send([Buffer.from(`${topic}x`), encode({ v: 1 })]);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    pub.close();
    c.close();
  }
}

describe("fuzzing the bridge", () => {
  it("the upstream SUB takes 1,000 malformed messages and still bridges a valid one to a browser", async () => {
    const r = await startBridge(procs);
    const all = await browser(r);
    all.subscribe(""); // so the SUB lets every topic in
    await all.waitFor("the ack", (m) => m.kind === "notice" && m.text === "");
    const report = await fuzzRole(r.bridge, {
      endpoint: r.upstream,
      peer: "pub",
      words: ["hb.", "hb.ok.rack1.a1.", "plant3.pump1.flow", "f64le", ""],
      fields: [
        "v",
        "agent",
        "rack",
        "incarnation",
        "seq",
        "sentAt",
        "intervalMs",
        "level",
        "metrics",
        "source",
        "ts",
        "units",
        "schema",
        "count",
      ],
      maxMessageBytes: MAX_UPSTREAM_FRAME_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(r),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(r.bridge.find("malformed upstream message dropped").length).toBeGreaterThan(100);
    expect(r.bridge.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the WebSocket endpoint takes 1,000 hostile frames and connections and still serves a browser", async () => {
    const r = await startBridge(procs);
    const random = seededRandom(16);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    let sent = 0;
    for (let round = 0; round < 50; round++) {
      const c = await browser(r);
      for (let i = 0; i < 20 && !c.closed; i++, sent++) {
        const pick = Math.floor(random() * 8);
        if (pick === 0) c.ws.send(bytes(Math.floor(random() * 40)));
        else if (pick === 1) c.ws.send(encodeControl("subscribe", "x".repeat(201)));
        else if (pick === 2) c.ws.send(Buffer.concat([Buffer.from([1]), bytes(10)]));
        else if (pick === 3) c.ws.send(encodeControl(random() < 0.5 ? "subscribe" : "unsubscribe", `t${Math.floor(random() * 40)}.`));
        else if (pick === 4 && random() < 0.1) c.ws.send("text frame");
        else if (pick === 5 && random() < 0.1) c.ws.send(bytes(257 + Math.floor(random() * 4096)));
        else if (pick === 6) c.ws.ping(bytes(8));
        else c.ws.send(Buffer.from([random() < 0.5 ? 0 : 1]));
      }
      if (round % 10 === 0) {
        // Wrong origins, and raw garbage on the HTTP port.
        await expect(new WsClient(r.url, "http://evil.example").open()).rejects.toThrow("HTTP 403");
        const port = Number(new URL(r.url).port);
        await new Promise<void>((resolve) => {
          const garbage = Buffer.concat([Buffer.from("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"), bytes(200)]);
          const s = connect(port, "127.0.0.1", () => s.write(garbage, () => s.destroy()));
          s.on("error", () => resolve());
          s.on("close", () => resolve());
        });
      }
      c.close();
    }
    expect(sent).toBeGreaterThanOrEqual(1000);
    await probe(r);
    expect(r.bridge.running).toBe(true);
    expect(r.bridge.find("bad frame from a browser dropped").length).toBeGreaterThan(100);
  });
});
