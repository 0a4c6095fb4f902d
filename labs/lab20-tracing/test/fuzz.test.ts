// Every bound socket fuzzed with the kit's helper against the real processes: the collector's PULL
// and each service's ROUTER. After each fuzz the process is alive, small, and still serves.
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { fuzzRole, ProcessPool, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Push } from "zeromq";
import { ChainClient } from "../internal/load-client.ts";
import { encodeBatch, MAX_REQUEST_BYTES } from "../internal/protocol.ts";
import { type Chain, readTraces, startChain, WAIT_MS } from "./chain.ts";

const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const abort = new AbortController();
let chain: Chain;
const clients: Record<string, ChainClient> = {};

beforeAll(async () => {
  chain = await startChain(procs);
  for (const [stage, ep] of Object.entries({
    gateway: chain.endpoints.gateway,
    enricher: chain.endpoints.enricher,
    scorer: chain.endpoints.scorer,
  })) {
    const c = new ChainClient(ep);
    void c.listen(abort.signal, testLogger("lab20"));
    clients[stage] = c;
  }
}, 3 * WAIT_MS); // the collector, then the three services, each up to WAIT_MS on a busy machine
afterAll(async () => {
  abort.abort();
  for (const c of Object.values(clients)) c.close();
  await procs.stopAll();
  chain.cleanup();
});

const TX = { card: "4111-0001", merchant: "grocer", amount: 42 };

/** A stage still answers a well-formed request. */
async function probeStage(stage: string): Promise<void> {
  const v = await (clients[stage] as ChainClient).request(TX, "", 10_000);
  if (!v.ok) throw new Error(`${stage} answered ${JSON.stringify(v)}`);
}

let probes = 0;
/** The collector still assembles a valid batch into a trace (written to its OTLP file). */
async function probeCollector(): Promise<void> {
  probes += 1;
  const traceId = (0xfeed0000 + probes).toString(16).padStart(32, "0");
  const push = new Push({ linger: 0 });
  push.connect(chain.endpoints.collector);
  try {
    await push.send(
      encodeBatch({
        service: "probe",
        dropped: 0,
        spans: [
          {
            traceId,
            spanId: "0102030405060708",
            name: "probe",
            kind: 1,
            start: [1_700_000_000, 0],
            end: [1_700_000_000, 1000],
            status: 0,
            attrs: {},
          },
        ],
      }),
    );
    await waitUntil(() => readTraces(chain.dir).has(traceId), { timeoutMs: WAIT_MS, what: "the probe's trace" });
  } finally {
    push.close();
  }
}

describe("fuzzing lab20's bound sockets", () => {
  it("the collector's PULL takes 1,000 malformed span batches and still assembles a trace", async () => {
    const report = await fuzzRole(chain.collector, {
      endpoint: chain.endpoints.collector,
      peer: "push",
      fields: ["v", "svc", "drop", "names", "spans", "attrs"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: probeCollector,
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(chain.collector.find("malformed span batch dropped").length).toBeGreaterThan(100);
    expect(chain.collector.find("message dropped: its handling failed")).toEqual([]);
  });

  it.each(["gateway", "enricher", "scorer"])("the %s's ROUTER takes 1,000 malformed requests and still answers", async (stage) => {
    const proc = chain[stage as "gateway" | "enricher" | "scorer"];
    const report = await fuzzRole(proc, {
      endpoint: chain.endpoints[stage as "gateway"],
      peer: "dealer",
      envelope: true,
      words: ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
      fields: ["id", "card", "merchant", "amount", "features"],
      maxMessageBytes: MAX_REQUEST_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probeStage(stage),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(proc.find("malformed request dropped").length).toBeGreaterThan(100);
    expect(proc.find("message dropped: its handling failed")).toEqual([]);
  });
});
