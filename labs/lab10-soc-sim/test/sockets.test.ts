// The pipeline's classes in one process over real sockets (loopback, ephemeral ports): an event is
// acknowledged only once the sink has it; with the only enricher gone, an accepted event waits, and is
// acknowledged once a new enricher registers (the gateway's resend), not lost.
import { seededRandom } from "@zlabs/kit";
import { freeTcpEndpoint, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlertSink } from "../internal/alert-sink.ts";
import { DETECT_SERVICE } from "../internal/config.ts";
import { DetectionBroker } from "../internal/detection-broker.ts";
import { Detector } from "../internal/detector.ts";
import { EventEnricher } from "../internal/event-enricher.ts";
import { IngestGateway } from "../internal/ingest-gateway.ts";
import { KNOWN_BAD_IP } from "../internal/intel.ts";
import { IntelFeed } from "../internal/intel-feed.ts";
import type { ServiceConfig } from "../internal/service.ts";
import { ServiceRegistry } from "../internal/service-registry.ts";
import { eventJson, normalFlow } from "../internal/traffic.ts";
import { postJson } from "./support/soc.ts";

const log = testLogger("lab10");
const stops: AbortController[] = [];
const runs: Promise<unknown>[] = [];
let registry = "";
let gateway: IngestGateway;
const rand = seededRandom(9);
const node = { id: "sockets", hostname: "s", site: "t", interface: "eth0" };

function svc(instance: string): ServiceConfig {
  return {
    registry: `builtin:${registry}`,
    bindHost: "127.0.0.1",
    advertiseHost: "127.0.0.1",
    instance,
    leaseTtlMs: 2000,
    leaseRenewMs: 500,
    metricsPort: 0,
    codec: "protobuf",
  };
}

function run(role: { run(signal: AbortSignal): Promise<void> }): AbortController {
  const stop = new AbortController();
  stops.push(stop);
  runs.push(role.run(stop.signal).catch((err: unknown) => log.error({ err }, "role ended")));
  return stop;
}

const hb = { heartbeatMs: 300, liveness: 3 };

beforeAll(async () => {
  registry = await freeTcpEndpoint();
  run(new ServiceRegistry({ endpoint: registry }, log));
  gateway = new IngestGateway({ service: svc("gw"), port: 0, httpPort: 0, ackTimeoutMs: 20_000, retryMs: 500, maxInFlight: 100 }, log);
  run(gateway);
  run(new IntelFeed({ service: svc("intel"), port: 0, republishMs: 300 }, log));
  run(new DetectionBroker({ service: svc("broker"), port: 0, ...hb, requestExpiryMs: 5000, maxWaiting: 1000 }, log));
  run(new Detector({ service: svc("det"), detectService: DETECT_SERVICE, ...hb, reconnectMs: 300 }, log));
  run(new AlertSink({ service: { ...svc("sink"), codec: "msgpack" }, port: 0, donePort: 0, store: "memory", alertTtlMs: 60_000 }, log));
  await waitUntil(() => gateway.httpUrl, { timeoutMs: 20_000, what: "the gateway's HTTP port" });
}, 60_000);

afterAll(async () => {
  for (const s of stops) s.abort();
  await Promise.all(runs);
});

describe("the pipeline in one process", () => {
  it("no enricher yet: the event waits in flight; an enricher registers: it is acknowledged with its verdict", async () => {
    const pending = postJson(`${gateway.httpUrl}/api/events`, {
      ...eventJson(normalFlow(rand, node, "waits-1", Date.now())),
      srcIp: KNOWN_BAD_IP,
    });
    await waitUntil(() => gateway.inFlight.has("waits-1"), { timeoutMs: 10_000, what: "the event in flight" });
    const enricher = new EventEnricher(
      { service: svc("enr-1"), port: 0, detectTimeoutMs: 3000, maxEnriching: 64, detectService: DETECT_SERVICE },
      log,
    );
    run(enricher);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.id).toBe("waits-1");
    expect(gateway.stats.resent).toBeGreaterThan(0);
  });

  it("the detector learns the intel feed's indicators: a known-bad source is scored critical", async () => {
    const r = await waitUntil(
      async () => {
        const a = await postJson(`${gateway.httpUrl}/api/events`, {
          ...eventJson(normalFlow(rand, node, `bad-${Date.now()}`, Date.now())),
          srcIp: KNOWN_BAD_IP,
        });
        return a.status === 200 && (a.body.alerts as string[]).includes("intel-match") ? a : undefined;
      },
      { timeoutMs: 20_000, everyMs: 200, what: "an intel-match verdict" },
    );
    expect(r.body.score).toBe(90);
  });

  it("a resent event (same id) is acknowledged again, its alerts not stored twice", async () => {
    const body = { ...eventJson(normalFlow(rand, node, "twice-1", Date.now())), srcIp: KNOWN_BAD_IP };
    const first = await postJson(`${gateway.httpUrl}/api/events`, body);
    const second = await postJson(`${gateway.httpUrl}/api/events`, body);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.alerts).toEqual(first.body.alerts);
  });
});
