// Several hosts: etcd and each service in its own network namespace on a switch (the kit's NetnsSwitch,
// 10.210.0.0/24, this test on it at .1), every
// service binding 0.0.0.0 and advertising its own address, discovery through etcd only. Then the alert
// sink's host is cut off the bridge (a partition: packets dropped, nobody told) and put back: its lease
// expires and the registry forgets it; an event posted meanwhile waits in the gateway; after the heal the
// sink registers again, the others reconnect, and the waiting event is acknowledged.
import { NetnsSwitch, netnsUnusable, ProcessPool, type RoleProcess, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_DIR } from "../docker/images.ts";
import type { Registry, ServiceRecord } from "../internal/registry.ts";
import { openEtcdRegistry } from "../internal/registry-etcd.ts";
import { benignEvent, postEvent, untilRuleFires } from "./support/attack.ts";
import { ETCD_BIN, EtcdServer, missingBinary } from "./support/etcd-server.ts";

const reason = missingBinary(ETCD_BIN) ?? netnsUnusable("zl10");
const log = testLogger("lab10");
const WAIT_MS = 60_000;
/** Short leases: a partitioned service leaves the registry within seconds. */
const LEASE = ["--lease-ttl-ms", "3000", "--lease-renew-ms", "1000"];
const SERVICES: [role: string, host: number, args: string[]][] = [
  ["ingest-gateway", 3, ["--ack-timeout-ms", "60000", "--retry-ms", "1000"]],
  ["event-enricher", 4, []],
  ["intel-feed", 5, ["--republish-ms", "1000"]],
  ["detection-broker", 6, ["--heartbeat", "500"]],
  ["detector", 7, ["--heartbeat", "500"]],
  ["alert-sink", 8, []],
  ["soc-dashboard", 9, []],
];

describe.skipIf(reason)(`several hosts: network namespaces on a bridge${reason ? ` (skipped: ${reason})` : ""}`, () => {
  let net: NetnsSwitch;
  let etcd: EtcdServer | undefined;
  const procs = new ProcessPool();
  let registry: Registry | undefined;

  beforeAll(async () => {
    net = new NetnsSwitch("zl10", "10.210.0");
    net.connectTest();
    const etcdHost = net.addHost("etcd", 2);
    for (const [role, n] of SERVICES) net.addHost(role, n);
    etcd = await EtcdServer.start({ client: `http://${etcdHost.address}:2379`, peer: "http://127.0.0.1:2380", netns: etcdHost.ns });
  }, 120_000);

  afterAll(async () => {
    await registry?.close();
    await procs.stopAll();
    await etcd?.stop();
    net?.remove();
  }, 60_000);

  it("each service on its own host finds the others through etcd; an attack raises alerts; a partition and heal of the sink", async () => {
    const etcdUrl = `http://${net.host("etcd").address}:2379`;
    for (const [role, , args] of SERVICES) {
      const host = net.host(role);
      procs.start({
        labDir: LAB_DIR,
        cmd: `cmd/${role}.ts`,
        name: role,
        netns: host.ns,
        env: { LOG_LEVEL: "info" },
        args: [
          "--registry",
          `etcd:${etcdUrl}`,
          "--bind-host",
          "0.0.0.0",
          "--advertise-host",
          host.address,
          "--instance",
          role,
          ...LEASE,
          ...args,
        ],
      });
    }
    await Promise.all(procs.all.map((p) => p.waitForLog("ready", WAIT_MS)));

    // Discovery: every record names its own host's address, read from the registry by this (other) host.
    registry = await openEtcdRegistry([etcdUrl], log);
    let latest: ServiceRecord[] = [];
    const unwatch = registry.watch(undefined, (records) => {
      latest = records;
    });
    await waitUntil(() => latest.length === SERVICES.length, { timeoutMs: WAIT_MS, what: "every service in etcd" });
    for (const r of latest) expect(r.endpoint).toContain(net.host(r.type).address);
    const gatewayHttp = latest.find((r) => r.type === "ingest-gateway")?.meta.http as string;
    expect(new URL(gatewayHttp).hostname).toBe(net.host("ingest-gateway").address);

    // Across hosts: an event from a known-bad address is acknowledged with its alert.
    await untilRuleFires(gatewayHttp, "intel-match", WAIT_MS);

    // Partition: the sink's host drops off the bridge. Its lease can no longer be renewed: etcd forgets it.
    const sink = procs.all.find((p) => p.name === "alert-sink") as RoleProcess;
    const enricher = procs.all.find((p) => p.name === "event-enricher") as RoleProcess;
    const enricherLines = enricher.logs.length;
    net.partition(["alert-sink"]);
    // An event posted during the partition is accepted and waits in the gateway (resent every --retry-ms).
    const pending = postEvent(gatewayHttp, { ...benignEvent(3, "partition"), srcIp: "203.0.113.66" }, WAIT_MS * 2);
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    await waitUntil(() => !latest.some((r) => r.type === "alert-sink"), {
      timeoutMs: WAIT_MS,
      what: "the partitioned sink's lease expired in etcd",
    });
    // A whole lease TTL later it is still waiting: nothing reached the sink.
    expect(settled).toBe(false);

    // Heal: the sink registers again (a new lease), the enricher reconnects, the waiting event is acknowledged.
    const sinkLines = sink.logs.length;
    net.heal();
    await waitUntil(() => latest.some((r) => r.type === "alert-sink"), {
      timeoutMs: WAIT_MS,
      what: "the sink registered again after the heal",
    });
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.alerts).toContain("intel-match");
    // The registrations came back through the etcd client's own re-registration, seen in the sink's log.
    expect(sink.logs.slice(sinkLines).some((e) => /registered again|lease/.test(String(e.msg)))).toBe(true);
    log.info({ enricherLines: enricher.logs.length - enricherLines }, "healed");
    const after = await postEvent(gatewayHttp, { ...benignEvent(4, "healed"), srcIp: "203.0.113.66" });
    expect(after.status).toBe(200);
    unwatch();
  }, 300_000);
});
