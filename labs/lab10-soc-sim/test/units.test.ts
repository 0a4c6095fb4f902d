// Units: the HTTP schema, the codecs (protobuf and MessagePack), the .proto's feature list, the
// detector's rules, de-duplication (sink's recent ids, memory store), geo, and the lab's own frames.
import { encode, seededRandom } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { RecentIds } from "../internal/alert-sink.ts";
import { MemoryAlertStore } from "../internal/alert-store-memory.ts";
import {
  decodeEvent,
  decodeScored,
  decodeVerdict,
  encodeEvent,
  encodeScored,
  encodeVerdict,
  eventBytes,
  protoRoot,
} from "../internal/codec.ts";
import { checkService, checkSink } from "../internal/config.ts";
import { parseRegistryUrl } from "../internal/discovery.ts";
import { FEATURE_KEYS } from "../internal/event.ts";
import { enrich } from "../internal/event-enricher.ts";
import { geoOf } from "../internal/geo.ts";
import { eventFromJson } from "../internal/ingest-gateway.ts";
import { INDICATORS, KNOWN_BAD_IP } from "../internal/intel.ts";
import { decodeDone, decodeIndicator, encodeDone, encodeIndicator } from "../internal/protocol.ts";
import { decodeServiceRecord } from "../internal/registry.ts";
import { decodeRegistryRequest, encodeRegistryRequest } from "../internal/registry-protocol.ts";
import { PORTSCAN_PORTS, Rules } from "../internal/rules.ts";
import { eventJson, normalFlow, scanPorts, scanProbe } from "../internal/traffic.ts";

const node = { id: "unit", hostname: "h", site: "s", interface: "eth0" };
const rand = seededRandom(1);
const flow = () => normalFlow(rand, node, `e-${Math.floor(rand() * 1e9)}`, 1_733_000_000_000);
const minimal = { srcIp: "10.0.0.5", dstIp: "10.0.0.9", srcPort: 5555, dstPort: 80, protocol: "tcp" };

describe("the HTTP body (ajv schema, then the field checks)", () => {
  it.each([
    ["not JSON", "{", /^invalid JSON/],
    ["an array", "[]", /^schema: body must be object/],
    ["no srcIp", JSON.stringify({ dstIp: "1.2.3.4", protocol: "tcp" }), /^schema: body must have required property 'srcIp'/],
    ["an unknown field", JSON.stringify({ ...minimal, evil: 1 }), /additional properties \(evil\)/],
    ["a port out of range", JSON.stringify({ ...minimal, dstPort: 70000 }), /^schema: \/dstPort must be <= 65535/],
    ["a protocol by number", JSON.stringify({ ...minimal, protocol: 6 }), /^schema: \/protocol must be equal to one of the allowed values/],
    ["a bad address", JSON.stringify({ ...minimal, srcIp: "10.0.0.999" }), /^srcIp: an IPv4 or IPv6 address expected/],
    [
      "a feature that is not a number",
      JSON.stringify({ ...minimal, features: { flowDuration: "x" } }),
      /^schema: \/features\/flowDuration must be number/,
    ],
    ["an unknown feature", JSON.stringify({ ...minimal, features: { nope: 1 } }), /additional properties \(nope\)/],
    ["an id with a slash", JSON.stringify({ ...minimal, id: "a/b" }), /^schema: \/id must match pattern/],
    ["a negative count", JSON.stringify({ ...minimal, bytesIn: -1 }), /^schema: \/bytesIn must be >= 0/],
  ])("refuses %s with the reason", (_what, body, reason) => {
    const r = eventFromJson(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("takes a minimal event, gives it an id and the proto3 defaults", () => {
    const r = eventFromJson(JSON.stringify(minimal));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.id).toMatch(/^http-/);
    expect(r.value.protocol).toBe(6);
    expect(Object.keys(r.value.features)).toHaveLength(FEATURE_KEYS.length);
  });

  it("takes what eventJson makes of a full flow record (every field the schema lists)", () => {
    const e = flow();
    const r = eventFromJson(JSON.stringify(eventJson(e)));
    expect(r.ok && r.value.features).toEqual(e.features);
  });
});

describe("the codecs", () => {
  it("the .proto's FlowFeatures are the 76 features, in order", () => {
    const fields = protoRoot.lookupType("lab10.soc.FlowFeatures").fieldsArray.map((f) => f.name);
    expect(fields).toEqual(FEATURE_KEYS);
    expect(fields).toHaveLength(76);
  });

  it.each(["protobuf", "msgpack"] as const)("%s: an event, a verdict and a scored event go round unchanged", (codec) => {
    const e = enrich({ ...flow(), gateway: "gw-1", receivedMs: 1_733_000_000_123, attempt: 2 }, 1_733_000_000_200);
    const back = decodeEvent(encodeEvent(e, codec));
    expect(back).toEqual({ ok: true, value: e });
    const v = {
      eventId: e.id,
      score: 90,
      hits: [{ rule: "intel-match", severity: "critical" as const, subject: KNOWN_BAD_IP, summary: "x" }],
      detector: "d-1",
    };
    expect(decodeVerdict(encodeVerdict(v, codec))).toEqual({ ok: true, value: v });
    expect(decodeScored(encodeScored({ event: e, verdict: v }, codec))).toEqual({ ok: true, value: { event: e, verdict: v } });
  });

  it("a single frame is a bare protobuf event (what a foreign producer sends)", () => {
    const e = flow();
    const back = decodeEvent([eventBytes(e)]);
    expect(back.ok && back.value.id).toBe(e.id);
  });

  it.each([
    ["three frames", [Buffer.from("pb"), Buffer.from("x"), Buffer.from("y")], /3 frames/],
    ["an unknown codec tag", [Buffer.from("xx"), Buffer.from("y")], /codec tag/],
    ["garbage protobuf", [Buffer.from([0xff, 0xff, 0xff, 0xff])], /not a NetworkSecurityEvent/],
    ["msgpack that is not a map", [Buffer.from("mp"), encode([1, 2])], /map/],
    ["an event without addresses", [Buffer.from("mp"), encode({ id: "a" })], /srcIp/],
    ["a port over 65535", [Buffer.from("mp"), encode({ id: "a", srcIp: "1.2.3.4", dstIp: "1.2.3.5", dstPort: 70000 })], /port/],
    [
      "a feature that is not finite",
      [Buffer.from("mp"), encode({ id: "a", srcIp: "1.2.3.4", dstIp: "1.2.3.5", features: { flowDuration: "x" } })],
      /features/,
    ],
  ])("refuses %s", (_w, frames, reason) => {
    const r = decodeEvent(frames as Buffer[]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("refuses a scored event whose verdict is for another event", () => {
    const e = flow();
    const frames = encodeScored({ event: e, verdict: { eventId: "other", score: 0, hits: [], detector: "d" } }, "msgpack");
    expect(decodeScored(frames)).toEqual({ ok: false, reason: "verdict for another event" });
  });
});

describe("the detector's rules", () => {
  const intel = (r: Rules) => {
    for (const i of INDICATORS) r.addIndicator({ ...i, ttlMs: 1000 }, 0);
  };

  it("an indicator match on either end, while the indicator lives", () => {
    const r = new Rules();
    intel(r);
    expect(r.score({ ...flow(), srcIp: KNOWN_BAD_IP }, 10, "d").hits.map((h) => h.rule)).toEqual(["intel-match"]);
    expect(r.score({ ...flow(), dstIp: "198.51.100.23" }, 10, "d").hits[0]?.severity).toBe("high");
    expect(r.score({ ...flow(), srcIp: KNOWN_BAD_IP }, 2000, "d").hits).toEqual([]);
  });

  it("domains and file hashes from the feed", () => {
    const r = new Rules();
    intel(r);
    expect(r.score({ ...flow(), domain: "update-check.evil.example" }, 1, "d").hits.map((h) => h.rule)).toEqual(["intel-domain"]);
    expect(
      r.score({ ...flow(), fileSha256: INDICATORS.find((i) => i.kind === "hash")?.value ?? "" }, 1, "d").hits.map((h) => h.rule),
    ).toEqual(["intel-hash"]);
  });

  it(`a port scan: ${PORTSCAN_PORTS} distinct ports from one source within the window, not fewer`, () => {
    const r = new Rules();
    const ports = scanPorts();
    const fired = ports.map((p, i) =>
      r.score(scanProbe(rand, node, `s${i}`, 0, p, "192.0.2.9"), i * 10, "d").hits.some((h) => h.rule === "port-scan"),
    );
    expect(fired.indexOf(true)).toBe(PORTSCAN_PORTS - 1);
    // The same ports again much later: the window has moved on, the count starts over.
    expect(r.score(scanProbe(rand, node, "late", 0, 22, "192.0.2.9"), 60_000, "d").hits).toEqual([]);
  });

  it("a rate threshold per source", () => {
    const r = new Rules({ portscanPorts: 1000, rate: 5, outlierZ: 100, warmup: 1e9 });
    const hits = Array.from({ length: 8 }, (_, i) =>
      r.score({ ...flow(), srcIp: "10.9.9.9", dstPort: 443 }, i, "d").hits.map((h) => h.rule),
    );
    expect(hits.slice(0, 5).flat()).toEqual([]);
    expect(hits[5]).toEqual(["rate-threshold"]);
  });

  it("an outlier on the flow features after the warm-up", () => {
    const r = new Rules({ portscanPorts: 1000, rate: 1e9, outlierZ: 6, warmup: 100 });
    for (let i = 0; i < 200; i++) expect(r.score(flow(), i, "d").hits).toEqual([]);
    const huge = flow();
    huge.features = { ...huge.features, flowBytsS: 1e15 };
    expect(r.score(huge, 300, "d").hits.map((h) => h.rule)).toEqual(["flow-outlier"]);
  });

  it("scores by severity, capped at 100", () => {
    const r = new Rules();
    intel(r);
    expect(r.score({ ...flow(), srcIp: KNOWN_BAD_IP, dstIp: "198.51.100.23" }, 1, "d").score).toBe(100);
    expect(r.score(flow(), 1, "d").score).toBe(0);
  });
});

describe("de-duplication", () => {
  it("the sink remembers the last N event ids", () => {
    const ids = new RecentIds(3);
    for (const id of ["a", "b", "c", "d"]) ids.add(id);
    expect(["a", "b", "c", "d"].map((id) => ids.has(id))).toEqual([false, true, true, true]);
  });

  it("the memory store: a repeat within the TTL counts, after it stores anew", async () => {
    let now = 1000;
    const store = new MemoryAlertStore(() => now);
    const a = {
      severity: "high" as const,
      rule: "port-scan",
      subject: "1.2.3.4",
      summary: "s",
      eventId: "e",
      firstSeen: 1,
      lastSeen: 1,
      count: 1,
    };
    expect(await store.put(a, 100)).toBe("stored");
    expect(await store.put({ ...a, lastSeen: 5 }, 100)).toBe("duplicate");
    expect((await store.list(10))[0]).toMatchObject({ count: 2, lastSeen: 5 });
    now = 1100;
    expect(await store.list(10)).toEqual([]);
    expect(await store.put(a, 100)).toBe("stored");
  });
});

describe("enrichment and the small frames", () => {
  it("geo of both ends from the table; unknown and IPv6 stay empty", () => {
    expect(geoOf(KNOWN_BAD_IP)?.country).toBe("RU");
    expect(geoOf("10.1.2.3")?.org).toBe("corp LAN");
    expect(geoOf("9.9.9.9")).toBeUndefined();
    expect(geoOf("::1")).toBeUndefined();
    const e = enrich({ ...flow(), srcIp: "10.0.0.1", dstIp: KNOWN_BAD_IP, domain: "A.Example" }, 5);
    expect([e.srcGeo?.city, e.dstGeo?.city, e.domain, e.enrichedMs]).toEqual(["Paris", "Moscow", "a.example", 5]);
  });

  it("done notices and indicators go round; bad ones are refused", () => {
    expect(decodeDone(encodeDone("gw", { id: "e1", score: 90, alerts: ["port-scan"] }))).toEqual({
      ok: true,
      value: { id: "e1", score: 90, alerts: ["port-scan"] },
    });
    expect(decodeDone([Buffer.from("gw"), encode({ id: "e1", score: 900, alerts: [] })]).ok).toBe(false);
    const i = { kind: "ip" as const, value: KNOWN_BAD_IP, severity: "critical" as const, reason: "c2", ttlMs: 1000 };
    expect(decodeIndicator(encodeIndicator(i))).toEqual({ ok: true, value: i });
    expect(decodeIndicator([Buffer.from("intel.ip"), encode({ ...i, value: "not-an-ip" })]).ok).toBe(false);
    expect(decodeIndicator([Buffer.from("intel.x"), encode(i)]).ok).toBe(false);
  });

  it("registry requests and records are checked field by field", () => {
    const record = { type: "detector", instance: "d-1", endpoint: "tcp://127.0.0.1:1", health: "passing", meta: {} };
    expect(decodeRegistryRequest([encodeRegistryRequest({ kind: "register", id: 1, record: record as never, ttlMs: 1000 })])).toMatchObject(
      { kind: "register", ttlMs: 1000 },
    );
    expect(decodeRegistryRequest([encode({ op: "register", id: 1, record, ttlMs: 1 })])).toMatchObject({ kind: "invalid" });
    expect(decodeRegistryRequest([encode({ op: "drop", id: 1 })])).toMatchObject({ kind: "invalid" });
    expect(decodeServiceRecord({ ...record, type: "../x" }).ok).toBe(false);
    expect(decodeServiceRecord({ ...record, meta: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }).ok).toBe(
      false,
    );
  });

  it("flags: registry URLs, hosts, stores", () => {
    expect(parseRegistryUrl("builtin:tcp://127.0.0.1:5100")).toEqual({ kind: "builtin", endpoint: "tcp://127.0.0.1:5100" });
    expect(parseRegistryUrl("etcd:http://a:2379,http://b:2379")).toEqual({ kind: "etcd", endpoints: ["http://a:2379", "http://b:2379"] });
    expect(parseRegistryUrl("etcd://a:2379")).toBeUndefined();
    const ok = {
      registry: "builtin:tcp://127.0.0.1:5100",
      bindHost: "127.0.0.1",
      advertiseHost: "",
      instance: "",
      leaseTtlMs: 60000,
      leaseRenewMs: 30000,
    };
    expect(checkService(ok)).toBeUndefined();
    expect(checkService({ ...ok, bindHost: "0.0.0.0" })).toMatch(/needs --advertise-host/);
    expect(checkService({ ...ok, leaseRenewMs: 60000 })).toMatch(/must be below/);
    expect(checkSink({ store: "redis://127.0.0.1:6379" })).toBeUndefined();
    expect(checkSink({ store: "postgres://x" })).toMatch(/memory or redis/);
  });
});
