// The SOC in containers: images built here (docker/images.ts: base images imported from this machine's
// binaries, no registry needed), compose.yaml brought up (etcd, Redis, every service), an attack driven
// through it over HTTP, the alerts found in Redis and at the sink, then a graceful stop and down.
// Needs a Docker engine: the one that answers, or dockerd started here as root (and stopped after).
import { testLogger, waitUntil } from "@zlabs/kit/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_IMAGE, ETCD_IMAGE, LAB_DIR, REDIS_IMAGE } from "../docker/images.ts";
import { KNOWN_BAD_IP } from "../internal/intel.ts";
import type { Registry, ServiceRecord } from "../internal/registry.ts";
import { openEtcdRegistry } from "../internal/registry-etcd.ts";
import { driveAttack, untilRuleFires } from "./support/attack.ts";
import { COMPOSE_PROJECT, compose, containerIp, DockerEngine, dockerSkipReason, runCommand } from "./support/docker.ts";

const reason = dockerSkipReason();
const log = testLogger("lab10");
const ENV = { LAB10_IMAGE: APP_IMAGE, LAB10_ETCD_IMAGE: ETCD_IMAGE, LAB10_REDIS_IMAGE: REDIS_IMAGE };
/** Every service compose.yaml starts by default, as type -> instances. */
const EXPECTED: Record<string, string[]> = {
  "alert-sink": ["sink-1"],
  "detection-broker": ["broker-1"],
  detector: ["detector-a", "detector-b"],
  "event-enricher": ["enricher-1"],
  "ingest-gateway": ["gateway-1"],
  "intel-feed": ["intel-1"],
  "soc-dashboard": ["dashboard-1"],
};
const SERVICES = [
  "etcd",
  "redis",
  "ingest-gateway",
  "event-enricher",
  "intel-feed",
  "detection-broker",
  "detector-a",
  "detector-b",
  "alert-sink",
  "soc-dashboard",
];
/** Budget from the first attack event posted to both alerts stored (a loaded 2-core machine). */
const ALERT_BUDGET_MS = 30_000;

/** A URL a service registered (http://<service name>:port) with the name replaced by its container's address. */
function reachable(url: string): string {
  const u = new URL(url);
  u.hostname = containerIp(u.hostname);
  return u.origin;
}

describe.skipIf(reason)(`compose.yaml on a Docker engine${reason ? ` (skipped: ${reason})` : ""}`, () => {
  let engine: DockerEngine | undefined;
  let registry: Registry | undefined;
  let services: ServiceRecord[] = [];

  beforeAll(async () => {
    engine = await DockerEngine.ensure();
    const built = await runCommand(process.execPath, ["--import", "tsx", "docker/images.ts"], { cwd: LAB_DIR, timeoutMs: 400_000 });
    if (built.code !== 0) throw new Error(`docker/images.ts failed:\n${built.stderr.slice(-3000)}`);
    await compose(["down", "-v", "--remove-orphans", "-t", "2"], ENV, 120_000);
    await compose(["up", "-d"], ENV, 240_000);
  }, 900_000);

  afterAll(async () => {
    await registry?.close();
    try {
      await compose(["down", "-v", "--remove-orphans", "-t", "5"], ENV, 180_000);
    } finally {
      await engine?.stop();
    }
  }, 300_000);

  it("every service registers in etcd under its service name, found from outside through the registry", async () => {
    registry = await openEtcdRegistry([`http://${containerIp("etcd")}:2379`], log);
    const seen: ServiceRecord[][] = [];
    const unwatch = registry.watch(undefined, (records) => seen.push(records));
    try {
      services = await waitUntil(
        () => {
          const latest = seen.at(-1) ?? [];
          const byType = (type: string) => latest.filter((r) => r.type === type).map((r) => r.instance);
          return (
            Object.entries(EXPECTED).every(([type, instances]) => JSON.stringify(byType(type)) === JSON.stringify(instances)) && latest
          );
        },
        {
          timeoutMs: 240_000,
          what: `every service registered (last list: ${JSON.stringify(seen.at(-1)?.map((r) => `${r.type}/${r.instance}`))})`,
          everyMs: 200,
        },
      );
    } finally {
      unwatch();
    }
    for (const r of services) {
      // Advertised by service name (the containers bind 0.0.0.0), never a loopback or wildcard address.
      expect(new URL(r.endpoint).hostname).not.toMatch(/^(0\.0\.0\.0|127\.)/);
      expect(r.health).toBe("passing");
    }
    expect(new URL(services.find((r) => r.type === "ingest-gateway")?.meta.http ?? "").hostname).toBe("ingest-gateway");
  }, 300_000);

  it("an attack posted to the gateway becomes alerts stored in Redis, within the budget", async () => {
    const gateway = services.find((r) => r.type === "ingest-gateway");
    const sink = services.find((r) => r.type === "alert-sink");
    expect(gateway?.meta.http).toBeTruthy();
    const http = reachable(gateway?.meta.http as string);
    // The detectors have the feed's indicators once an event from a known-bad address raises intel-match.
    await untilRuleFires(http, "intel-match", 60_000);
    const started = performance.now();
    const { answers, rules } = await driveAttack(http);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(rules).toContain("port-scan");
    const redis = new Redis(`redis://${containerIp("redis")}:6379`, { lazyConnect: true });
    try {
      await redis.connect();
      const keys = await waitUntil(
        async () => {
          const found = (await redis.keys(`alerts:*:*:${KNOWN_BAD_IP}`)).sort();
          return found.some((k) => k.includes(":port-scan:")) && found.some((k) => k.includes(":intel-match:")) && found;
        },
        { timeoutMs: ALERT_BUDGET_MS, what: "both alerts in Redis" },
      );
      const elapsed = performance.now() - started;
      log.info({ keys, elapsedMs: Math.round(elapsed) }, "attack to alerts stored");
      for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
      const portScan = JSON.parse((await redis.get(keys.find((k) => k.includes(":port-scan:")) as string)) ?? "{}");
      expect(portScan).toMatchObject({ rule: "port-scan", subject: KNOWN_BAD_IP });
    } finally {
      redis.disconnect();
    }
    const res = await fetch(`${reachable(sink?.meta.http as string)}/api/alerts?limit=50`, { signal: AbortSignal.timeout(10_000) });
    const { alerts } = (await res.json()) as { alerts: { rule: string; subject: string }[] };
    expect(alerts.filter((a) => a.subject === KNOWN_BAD_IP).map((a) => a.rule)).toEqual(
      expect.arrayContaining(["intel-match", "port-scan"]),
    );
  }, 120_000);

  it("docker-compose stop: every container ends on SIGTERM within the grace period (exit 0, none killed)", async () => {
    await compose(["stop", "-t", "15"], ENV, 120_000);
    const out = await runCommand(
      "docker",
      ["inspect", "-f", "{{.Name}} {{.State.ExitCode}} {{.State.OOMKilled}}", ...SERVICES.map((s) => `${COMPOSE_PROJECT}_${s}_1`)],
      { timeoutMs: 30_000 },
    );
    const exits = Object.fromEntries(
      out.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(" "))
        .map(([name, code]) => [name?.replace(`/${COMPOSE_PROJECT}_`, "").replace(/_1$/, ""), Number(code)]),
    );
    // 137 would be SIGKILL at the end of the grace period: a service that hung on stop.
    for (const s of SERVICES) expect({ service: s, code: exits[s] }).toEqual({ service: s, code: 0 });
  }, 180_000);
});
