// The real processes end to end: a collector and the three services, a client in the test.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ProcessPool, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChainClient, randomTransaction } from "../internal/load-client.ts";
import { type Chain, type OtlpSpan, readTraces, startChain, txIdOf, WAIT_MS } from "./chain.ts";

const procs = new ProcessPool();
const aborts: AbortController[] = [];
const chains: Chain[] = [];
async function cleanup() {
  for (const a of aborts.splice(0)) a.abort();
  await procs.stopAll();
  for (const c of chains.splice(0)) c.cleanup();
}

const log = testLogger("lab20");
const TX = { card: "4111-0001", merchant: "grocer", amount: 42 };

async function begin(opts: Parameters<typeof startChain>[1] = {}): Promise<{ chain: Chain; client: ChainClient }> {
  const chain = await startChain(procs, opts);
  chains.push(chain);
  const client = new ChainClient(chain.endpoints.gateway);
  const abort = new AbortController();
  aborts.push(abort);
  void client.listen(abort.signal, log);
  abort.signal.addEventListener("abort", () => client.close());
  return { chain, client };
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
/** A traceparent of our own: a trace id the test can look for. */
const traceparent = (n: number, sampled: boolean) => `00-${hex(0xabc00000 + n, 32)}-${hex(0x5a + n, 16)}-${sampled ? "01" : "00"}`;
const traceIdOf = (n: number) => hex(0xabc00000 + n, 32);

async function settledTrace(dir: string, traceId: string): Promise<OtlpSpan[]> {
  return waitUntil(() => readTraces(dir).get(traceId), { timeoutMs: WAIT_MS, what: `trace ${traceId} in the OTLP file` });
}

function many(client: ChainClient, n: number, tp = "") {
  return Promise.all(Array.from({ length: n }, (_, i) => client.request({ ...TX, amount: 10 + i }, tp, 10_000)));
}

async function all(client: ChainClient, n: number, tp = ""): Promise<number> {
  return (await many(client, n, tp)).filter((v) => v.ok).length;
}

const nanos = (s: string) => BigInt(s);
/** Starting the chain: the collector, then the three services, each up to WAIT_MS on a busy machine. */
const START_MS = 3 * WAIT_MS;
/** Clock skew allowed between processes of one host: 2 ms. */
const SKEW = 2_000_000n;

describe("the traced chain (one chain for these tests: the gateway samples half of the new traces, the collector forwards to a test HTTP server)", () => {
  const posts: { url: string; type: string; body: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } }[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      posts.push({ url: req.url ?? "", type: req.headers["content-type"] ?? "", body: JSON.parse(data) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  let chain: Chain;
  let client: ChainClient;

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    ({ chain, client } = await begin({
      sample: 0.5,
      // A trace is written once no span of it came for this long: 3 s, so that a service or the
      // collector stalled on a busy machine does not cut one trace in two (an orphan, a part missing).
      settleMs: 3000,
      collectorArgs: ["--otlp-url", `http://127.0.0.1:${port}`],
      serviceArgs: ["--stats-ms", "100"],
    }));
  }, START_MS);
  afterAll(async () => {
    await cleanup();
    server.close();
  });

  it("one request through the three services is one trace: the right parent chain, child times inside their parents'", async () => {
    // The gateway samples half of them: send until one is sampled.
    let spans: OtlpSpan[] | undefined;
    await waitUntil(
      async () => {
        expect((await client.request(TX, "", 10_000)).ok).toBe(true);
        await new Promise((r) => setTimeout(r, 50));
        spans = [...readTraces(chain.dir).values()].find((t) => t.length === 5);
        return spans;
      },
      { timeoutMs: WAIT_MS, what: "a sampled trace" },
    );
    const all = spans as OtlpSpan[];
    const byId = new Map(all.map((s) => [s.spanId, s]));
    const root = all.find((s) => !s.parentSpanId) as OtlpSpan;
    // gateway SERVER -> gateway CLIENT -> enricher SERVER -> enricher CLIENT -> scorer SERVER
    const chainOf: string[] = [];
    for (
      let s: OtlpSpan | undefined = all.find((x) => x.service === "scorer");
      s;
      s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined
    ) {
      chainOf.unshift(`${s.service}:${s.kind === 2 ? "server" : "client"}`);
      if (s.parentSpanId) {
        const parent = byId.get(s.parentSpanId) as OtlpSpan;
        expect(parent, `the parent of ${s.name}`).toBeDefined();
        expect(nanos(s.startTimeUnixNano) + SKEW).toBeGreaterThanOrEqual(nanos(parent.startTimeUnixNano));
        expect(nanos(s.endTimeUnixNano)).toBeLessThanOrEqual(nanos(parent.endTimeUnixNano) + SKEW);
      }
    }
    expect(chainOf).toEqual(["gateway:server", "gateway:client", "enricher:server", "enricher:client", "scorer:server"]);
    expect(root.service).toBe("gateway");
    expect(chain.collector.find("trace with orphan spans")).toEqual([]);
  });

  it("sampling decided at the root is honoured downstream: whole traces or none, and a caller's sampled flag wins", async () => {
    const verdicts = await many(client, 40);
    expect(verdicts.filter((v) => v.ok)).toHaveLength(40);
    // The 40's traces, told apart from the earlier tests' (some may still be settling) by their tx ids.
    const ids = new Set(verdicts.map((v) => v.id));
    // The caller decides: flag 00 -> no span anywhere; flag 01 -> a trace under the caller's span.
    await Promise.all([client.request(TX, traceparent(1, false), 10_000), client.request(TX, traceparent(2, true), 10_000)]);
    const marked = await settledTrace(chain.dir, traceIdOf(2));
    expect(marked.length).toBe(5);
    expect(marked.find((s) => s.service === "gateway" && s.kind === 2)?.parentSpanId).toBe(hex(0x5a + 2, 16));
    // The caller's span is never exported: the collector flags it as an orphan.
    await chain.collector.waitForLog({ msg: "trace with orphan spans", trace: traceIdOf(2) }, WAIT_MS);
    const traces = readTraces(chain.dir);
    expect(traces.has(traceIdOf(1))).toBe(false);
    // None partial: apart from the caller's, every trace written has its root, the gateway's SERVER span.
    expect([...traces.keys()].filter((id) => id !== traceIdOf(2) && txIdOf(traces.get(id) ?? []) === undefined)).toEqual([]);
    const rootDecided = [...traces].filter(([, spans]) => ids.has(txIdOf(spans) as number));
    for (const [, spans] of rootDecided)
      expect(spans.map((s) => s.service).sort()).toEqual(["enricher", "enricher", "gateway", "gateway", "scorer"]);
    expect(rootDecided.length).toBeGreaterThan(0);
    expect(rootDecided.length).toBeLessThan(40);
  });

  it("a malformed traceparent starts a new trace, counted as bad", async () => {
    const from = chain.gateway.logs.length;
    expect((await client.request(TX, "00-ABC-def-01", 10_000)).ok).toBe(true);
    await chain.gateway.waitForLog((e) => e.msg === "stats" && Number(e.badTraceparents) === 1, WAIT_MS, from);
  });

  it("forwards OTLP/JSON to the OTLP/HTTP endpoint (POST /v1/traces)", async () => {
    expect(
      (
        await client.request(
          randomTransaction(() => 0.3),
          traceparent(3, true),
          10_000,
        )
      ).ok,
    ).toBe(true);
    const has3 = (p: (typeof posts)[number]) => JSON.stringify(p.body).includes(traceIdOf(3));
    await waitUntil(() => posts.some(has3), { timeoutMs: WAIT_MS, what: "a POST with the trace" });
    const post = posts.find(has3) as (typeof posts)[number];
    expect(post.url).toBe("/v1/traces");
    expect(post.type).toBe("application/json");
    const spans = post.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)) as { traceId: string }[];
    expect(spans.filter((s) => s.traceId === traceIdOf(3)).length).toBe(5);
  });
});

describe("faults of the side channel", () => {
  afterEach(cleanup);

  it("collector absent, then stalled (SIGSTOP), then SIGKILLed: every request succeeds, spans dropped are counted; restarted, traces come again", async () => {
    const side = ["--stats-ms", "100", "--side-hwm", "2", "--side-sndbuf", "4096", "--flush", "5"];
    const { chain, client } = await begin({ collector: false, serviceArgs: side, collectorArgs: ["--rcvbuf", "4096"] });
    // Absent: nothing listens on the side channel.
    expect(await all(client, 200)).toBe(200);
    await chain.gateway.waitForLog((e) => e.msg === "stats" && Number(e.spansDropped) > 0, WAIT_MS);

    // Up, then stalled: the kernel buffers and the HWM fill, then batches are dropped.
    const collector = await chain.startCollector();
    await waitUntil(
      async () => {
        await client.request(TX, traceparent(10, true), 10_000);
        await new Promise((r) => setTimeout(r, 100));
        return readTraces(chain.dir).has(traceIdOf(10));
      },
      { timeoutMs: WAIT_MS, what: "a trace at the collector" },
    );
    process.kill(collector.pid as number, "SIGSTOP");
    const from = chain.gateway.logs.length;
    let ok = 0;
    for (let round = 0; round < 10; round++) ok += await all(client, 200);
    expect(ok).toBe(2000);
    const dropsAfterStall = await chain.gateway.waitForLog((e) => e.msg === "stats" && Number(e.spansDropped) > 0, WAIT_MS, from);
    process.kill(collector.pid as number, "SIGCONT");

    // SIGKILLed: still every request answered.
    await procs.crash(collector);
    expect(await all(client, 300)).toBe(300);
    await chain.gateway.waitForLog((e) => e.msg === "stats" && Number(e.spansDropped) > Number(dropsAfterStall.spansDropped), WAIT_MS);

    // Restarted on the same endpoint: the services reconnect by themselves and traces resume.
    await chain.startCollector();
    let n = 100;
    const sent = new Set<string>();
    await waitUntil(
      async () => {
        n += 1;
        sent.add(traceIdOf(n));
        await client.request(TX, traceparent(n, true), 10_000);
        await new Promise((r) => setTimeout(r, 100));
        return [...readTraces(chain.dir).keys()].some((id) => sent.has(id));
      },
      { timeoutMs: WAIT_MS, what: "a trace after the restart" },
    );
    expect(chain.gateway.running && chain.enricher.running && chain.scorer.running).toBe(true);
  }, 180_000); // a chain started, then several waits of up to WAIT_MS each on a busy machine
});
