// Every bound ZeroMQ socket of the SOC, fuzzed with the kit's helper (>= 1,000 malformed messages)
// against the real process; after each, that process is alive, under its memory bound, and the whole
// pipeline still acknowledges an event (the probe goes HTTP -> gateway -> enricher -> broker ->
// detector -> sink -> done notice -> 200).
import { MAX_MESSAGE_BYTES, seededRandom } from "@zlabs/kit";
import { fuzzRole, ProcessPool, withDeadline } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MAX_EVENT_BYTES, MAX_NOTICE_BYTES } from "../internal/protocol.ts";
import { MAX_REGISTRY_MESSAGE_BYTES } from "../internal/registry-protocol.ts";
import { eventJson, normalFlow } from "../internal/traffic.ts";
import { postJson, type Soc, startSoc } from "./support/soc.ts";

const MAX_RSS_MIB = 400;
const procs = new ProcessPool();
let soc: Soc;
const rand = seededRandom(3);
const node = { id: "fuzz", hostname: "fuzz", site: "test", interface: "eth0" };
let serial = 0;

async function probe(): Promise<void> {
  serial += 1;
  const r = await postJson(`${soc.gatewayHttp}/api/events`, eventJson(normalFlow(rand, node, `fuzz-probe-${serial}`, Date.now())), 30_000);
  if (r.status !== 200) throw new Error(`probe answered ${r.status} ${JSON.stringify(r.body)}`);
}

const EVENT_FIELDS = [
  "id",
  "srcIp",
  "dstIp",
  "srcPort",
  "dstPort",
  "protocol",
  "features",
  "gateway",
  "attempt",
  "node",
  "srcGeo",
  "event",
  "verdict",
  "hits",
  "eventId",
  "score",
];

beforeAll(async () => {
  soc = await startSoc(procs);
  await probe();
}, 240_000);
afterAll(() => procs.stopAll());

describe("fuzzing every bound socket", () => {
  const cases = [
    {
      role: "service-registry",
      socket: "ROUTER (registry requests)",
      peer: "dealer",
      words: ["register", "renew", "put", "revoke", "list"],
      fields: ["op", "id", "record", "ttlMs", "lease", "type", "instance", "endpoint", "health", "meta"],
      max: MAX_REGISTRY_MESSAGE_BYTES,
    },
    {
      role: "ingest-gateway",
      socket: "PULL (sensor events)",
      peer: "push",
      words: ["pb", "mp"],
      fields: EVENT_FIELDS,
      max: MAX_EVENT_BYTES,
    },
    {
      role: "event-enricher",
      socket: "PULL (events from the gateways)",
      peer: "push",
      words: ["pb", "mp"],
      fields: EVENT_FIELDS,
      max: MAX_EVENT_BYTES,
    },
    {
      role: "detection-broker",
      socket: "ROUTER (lab12 MDP)",
      peer: "dealer",
      words: [
        "",
        "MDPC01",
        "MDPW01",
        "soc.detect",
        "mmi.service",
        Buffer.from([1]),
        Buffer.from([2]),
        Buffer.from([3]),
        Buffer.from([4]),
        Buffer.from([5]),
      ],
      fields: EVENT_FIELDS,
      max: MAX_MESSAGE_BYTES,
    },
    { role: "alert-sink", socket: "PULL (scored events)", peer: "push", words: ["pb", "mp"], fields: EVENT_FIELDS, max: MAX_EVENT_BYTES },
    {
      role: "alert-sink",
      socket: "PUB (done notices), subscriptions",
      peer: "xsub",
      endpoint: "done",
      words: [Buffer.from([1]), Buffer.from([0])],
      fields: [],
      max: MAX_NOTICE_BYTES,
    },
    {
      role: "intel-feed",
      socket: "PUB (indicators), subscriptions",
      peer: "xsub",
      words: [Buffer.from([1]), Buffer.from([0]), "intel."],
      fields: [],
      max: MAX_NOTICE_BYTES,
    },
  ] as const;

  for (const c of cases) {
    it(`${c.role}'s ${c.socket} takes 1,000 malformed messages and the pipeline still acknowledges an event`, async () => {
      const r = soc.roles[c.role] ?? { proc: soc.registryProc, endpoint: soc.registry, meta: {} };
      const endpoint = "endpoint" in c ? (r.meta[c.endpoint] as string) : r.endpoint;
      const report = await fuzzRole(r.proc, {
        endpoint,
        peer: c.peer,
        words: [...c.words],
        fields: [...c.fields],
        maxMessageBytes: c.max,
        maxRssMiB: MAX_RSS_MIB,
        probe,
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(r.proc.find("message dropped: its handling failed")).toEqual([]);
    });
  }

  it("soc-dashboard's SUB (lab16's bridge upstream) takes 1,000 malformed messages and still delivers to a browser", async () => {
    const r = soc.roles["soc-dashboard"];
    if (!r) throw new Error("no dashboard");
    const url = new URL(soc.pageUrl);
    const ws = new WebSocket(`ws://${url.host}/ws`, { origin: `http://${url.host}` });
    const topics: string[] = [];
    ws.on("message", (data: Buffer) => {
      if (data[0] !== 1 && data[0] !== 2) return;
      const len = data.readUInt32BE(6);
      topics.push(data.subarray(10, 10 + len).toString());
    });
    await withDeadline(new Promise((resolve) => ws.once("open", resolve)), 10_000, "the WebSocket");
    ws.send(Buffer.from("\x01soc.", "latin1"));
    const seen = (from: number, what: string) =>
      withDeadline(
        (async () => {
          while (!topics.slice(from).includes("soc.services")) await new Promise((res) => setTimeout(res, 100));
        })(),
        20_000,
        what,
      );
    try {
      await seen(0, "the registry's list on the page");
      const report = await fuzzRole(r.proc, {
        endpoint: r.endpoint,
        peer: "pub",
        words: ["soc.", "soc.alert", "soc.services", "soc.stats.x.y"],
        fields: [],
        maxMessageBytes: 128 * 1024,
        maxRssMiB: MAX_RSS_MIB,
        probe: async () => {
          await probe();
          await seen(topics.length, "a valid update after the fuzz");
        },
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(r.proc.find("malformed upstream message dropped").length).toBeGreaterThan(0);
    } finally {
      ws.terminate();
    }
  });
});
