// End to end with the real processes: every role found through the built-in registry; an injected
// attack (a SYN port scan from a known-bad address) becomes stored alerts; bad HTTP input gets 400 with
// the reason and is counted; a role sending MessagePack works with the others reading it; bad flags exit 2.
import { seededRandom } from "@zlabs/kit";
import { ProcessPool, waitUntil } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../internal/alert-store.ts";
import { KNOWN_BAD_IP } from "../internal/intel.ts";
import { eventJson, normalFlow, SCAN_TARGET, scanPorts, scanProbe } from "../internal/traffic.ts";
import { getJson, labDir, postJson, type Soc, startRole, startSoc } from "./support/soc.ts";

const procs = new ProcessPool();
let soc: Soc;
const node = { id: "e2e", hostname: "e2e", site: "test", interface: "eth0" };
const rand = seededRandom(7);

beforeAll(async () => {
  // The enricher sends MessagePack, the others protobuf: every receiver reads both.
  soc = await startSoc(procs, { "event-enricher": ["--codec", "msgpack"] });
}, 240_000);
afterAll(() => procs.stopAll());

async function metric(url: string, name: string, label = ""): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split("\n")
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label))
    .reduce((a, l) => a + Number(l.split(" ").pop()), 0);
}

describe("the SOC, real processes", () => {
  it("every service registered itself under /services/{type}/{instance}", async () => {
    for (const r of Object.values(soc.roles)) expect(r.endpoint).toMatch(/^(tcp|http):\/\/127\.0\.0\.1:\d+/);
    expect(soc.roles["alert-sink"]?.meta.done).toMatch(/^tcp:\/\//);
    expect(soc.registryProc.find("service registered").length).toBeGreaterThanOrEqual(7);
  });

  it("a port scan from a known-bad address becomes intel-match and port-scan alerts, acknowledged per event", async () => {
    // The detector learns the indicators from the feed's next round: wait until a probe from the address matches.
    await waitUntil(
      async () => {
        const r = await postJson(`${soc.gatewayHttp}/api/events`, {
          ...eventJson(normalFlow(rand, node, `probe-${Date.now()}`, Date.now())),
          srcIp: KNOWN_BAD_IP,
        });
        return r.status === 200 && (r.body.alerts as string[]).includes("intel-match");
      },
      { timeoutMs: 30_000, everyMs: 300, what: "the detector knowing the indicators" },
    );
    const answers = [];
    for (const [i, port] of scanPorts().entries())
      answers.push(await postJson(`${soc.gatewayHttp}/api/events`, eventJson(scanProbe(rand, node, `scan-${i}`, Date.now(), port))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.at(-1)?.body.alerts).toEqual(["intel-match", "port-scan"]);
    const alerts = (await getJson(`${soc.sinkHttp}/api/alerts?limit=50`)).alerts as Alert[];
    const scan = alerts.find((a) => a.rule === "port-scan" && a.subject === KNOWN_BAD_IP);
    expect(scan?.severity).toBe("high");
    expect(scan?.summary).toContain(SCAN_TARGET);
    const intel = alerts.find((a) => a.rule === "intel-match" && a.subject === KNOWN_BAD_IP);
    expect(intel?.severity).toBe("critical");
    // De-duplicated: one alert per rule and subject, counted.
    expect(intel?.count).toBeGreaterThan(scanPorts().length - 1);
    expect(alerts.filter((a) => a.rule === "port-scan" && a.subject === KNOWN_BAD_IP)).toHaveLength(1);
  });

  it("an ordinary flow is acknowledged with score 0 and no alert", async () => {
    const r = await postJson(`${soc.gatewayHttp}/api/events`, eventJson(normalFlow(rand, node, "benign-1", Date.now())));
    expect(r).toEqual({ status: 200, body: { id: "benign-1", score: 0, alerts: [] } });
  });

  it("bad HTTP input gets 400 with the reason, is counted, and crashes nothing", async () => {
    const metrics = soc.roles["ingest-gateway"]?.meta.metrics as string;
    const before = await metric(metrics, "lab10_ingest_rejected_total");
    const bad = [
      ["{", /^invalid JSON/],
      [JSON.stringify({ srcIp: "1.2.3.4" }), /required property 'dstIp'/],
      [JSON.stringify({ srcIp: "1.2.3.400", dstIp: "1.2.3.4", protocol: "tcp" }), /srcIp: an IPv4 or IPv6 address expected/],
      [JSON.stringify({ srcIp: "1.2.3.4", dstIp: "1.2.3.4", protocol: "tcp", dstPort: -1 }), /dstPort must be >= 0/],
    ] as const;
    for (const [body, reason] of bad) {
      const r = await postJson(`${soc.gatewayHttp}/api/events`, body);
      expect(r.status).toBe(400);
      expect(String(r.body.error)).toMatch(reason);
    }
    const big = await fetch(`${soc.gatewayHttp}/api/events`, { method: "POST", body: "x".repeat(100_000) }).catch(() => undefined);
    if (big) expect(big.status).toBe(413);
    expect((await fetch(`${soc.gatewayHttp}/api/events`)).status).toBe(405);
    expect(await metric(metrics, "lab10_ingest_rejected_total")).toBeGreaterThanOrEqual(before + bad.length);
    // Still serving.
    expect((await postJson(`${soc.gatewayHttp}/api/events`, eventJson(normalFlow(rand, node, "after-bad", Date.now())))).status).toBe(200);
  });

  it("every service serves /metrics in the Prometheus text format", async () => {
    for (const [role, r] of Object.entries(soc.roles)) {
      const res = await fetch(r.meta.metrics as string);
      expect(res.headers.get("content-type"), role).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await res.text(), role).toMatch(/^# HELP lab10_/m);
    }
  });
});

describe("the sensor role", () => {
  it.each(["zmq", "http"])(
    "sends flow records and its attack via %s, found through the registry",
    async (via) => {
      const metrics = soc.roles["ingest-gateway"]?.meta.metrics as string;
      const before = await metric(metrics, "lab10_ingest_accepted_total", `via="${via}"`);
      const sensor = startRole(
        procs,
        soc.registry,
        "sensor",
        ["--via", via, "--rate", "10", "--attack-every", "1", "--seed", "3"],
        `sensor-${via}`,
      );
      await sensor.waitForLog(/^injecting an attack/, 60_000);
      await waitUntil(async () => (await metric(metrics, "lab10_ingest_accepted_total", `via="${via}"`)) >= before + 50, {
        timeoutMs: 30_000,
        everyMs: 500,
        what: `50 events via ${via}`,
      });
      expect(sensor.find("no gateway took an event (none registered yet, or all full)").length).toBeLessThanOrEqual(1);
      await sensor.stop();
    },
    150_000,
  );
});

describe("graceful stop", () => {
  it("every role stops on SIGTERM within 5 s (compose's grace is 10 s) with exit code 0", async () => {
    const roles = [...Object.values(soc.roles).map((r) => r.proc), soc.registryProc];
    const results = await Promise.all(roles.map(async (p) => [p.name, await p.stop(5000)] as const));
    for (const [name, status] of results) expect(status, name).toEqual({ code: 0, signal: null });
  });
});

describe("bad flags", () => {
  it.each([
    [
      "cmd/alert-sink.ts",
      ["--store", "postgres://x"],
      'alert-sink: --store "postgres://x": memory or redis://host:port expected (see --help)',
    ],
    [
      "cmd/ingest-gateway.ts",
      ["--bind-host", "0.0.0.0"],
      "ingest-gateway: --bind-host 0.0.0.0 needs --advertise-host (the address others reach this service at) (see --help)",
    ],
    [
      "cmd/detector.ts",
      ["--registry", "zk://x"],
      'detector: --registry "zk://x": builtin:tcp://host:port or etcd:http://host:port[,http://host:port] expected (see --help)',
    ],
  ])("%s %s exits 2 with one line", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([line]);
  });
});
