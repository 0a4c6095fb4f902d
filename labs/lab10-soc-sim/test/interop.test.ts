// A foreign producer: Python (pyzmq + the protobuf package), its message class made from the same
// proto/soc.proto (by protoc when installed, else from the descriptor of that file), PUSHing bare
// protobuf NetworkSecurityEvents to the gateway's PULL. Its port scan from a known-bad address becomes
// alerts in the sink, exactly as the Node sensor's does.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "@zlabs/kit";
import { hasPyzmq, ProcessPool, PYTHON, waitUntil, withDeadline } from "@zlabs/kit/testing";
import type protobuf from "protobufjs";
import "protobufjs/ext/descriptor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../internal/alert-store.ts";
import { protoRoot, protoText } from "../internal/codec.ts";
import { eventJson, normalFlow, SCAN_TARGET, scanPorts } from "../internal/traffic.ts";
import { getJson, postJson, type Soc, startSoc } from "./support/soc.ts";

const BAD = "198.51.100.23";
const hasProtobuf = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import google.protobuf"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const hasProtoc = (() => {
  try {
    execFileSync("protoc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const missing = !hasPyzmq() ? "pyzmq is not installed" : !hasProtobuf ? "python3-protobuf is not installed" : "";

const PRODUCER = `
import sys, time, zmq
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
mode, path, endpoint, src, target, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
if mode == "protoc":
    sys.path.insert(0, path)
    import soc_pb2
    Event = soc_pb2.NetworkSecurityEvent
else:
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(path, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    Event = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("lab10.soc.NetworkSecurityEvent"))
ctx = zmq.Context()
push = ctx.socket(zmq.PUSH)
push.setsockopt(zmq.LINGER, 5000)
push.connect(endpoint)
now = int(time.time() * 1000)
for i, port in enumerate(int(p) for p in ports.split(",")):
    e = Event(id="py-%d-%d" % (now, i), timestamp_ms=now + i, src_ip=src, dst_ip=target, src_port=40000 + i, dst_port=port,
              protocol=6, tcp_flags=2, packets_out=1, bytes_out=60, first_seen_ms=now + i, last_seen_ms=now + i)
    e.features.tot_fwd_pkts = 1
    e.features.totlen_fwd_pkts = 60
    e.features.syn_flag_cnt = 1
    e.node.id = "py-sensor"
    e.node.hostname = "python"
    e.node.site = "lab"
    e.node.interface = "eth0"
    push.send(e.SerializeToString())
push.close()
ctx.term()
print("sent", len(ports.split(",")))
`;

const procs = new ProcessPool();
let soc: Soc;
const tmp = mkdtempSync(join(tmpdir(), "lab10-py-"));

beforeAll(async () => {
  if (missing) return;
  soc = await startSoc(procs);
}, 240_000);
afterAll(async () => {
  await procs.stopAll();
  rmSync(tmp, { recursive: true, force: true });
});

function runPython(args: string[]): Promise<string> {
  return withDeadline(
    new Promise<string>((resolve, reject) => {
      const p = spawn(PYTHON, ["-c", PRODUCER, ...args]);
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}: ${err}`))));
    }),
    30_000,
    "the Python producer",
  );
}

describe.skipIf(missing)(`a Python protobuf producer on the gateway's PULL${missing ? ` (skipped: ${missing})` : ""}`, () => {
  it(`its port scan from ${BAD} becomes intel-match and port-scan alerts (message class ${hasProtoc ? "from protoc" : "from the .proto's descriptor"})`, async () => {
    let mode = "descriptor";
    let path = join(tmp, "soc.desc");
    if (hasProtoc) {
      writeFileSync(join(tmp, "soc.proto"), protoText());
      execFileSync("protoc", [`-I${tmp}`, `--python_out=${tmp}`, join(tmp, "soc.proto")]);
      mode = "protoc";
      path = tmp;
    } else {
      const set = (protoRoot as unknown as { toDescriptor(syntax: string): protobuf.Message }).toDescriptor("proto3");
      writeFileSync(path, (set.constructor as unknown as typeof protobuf.Message).encode(set).finish());
    }
    // The detectors learn the indicators from the feed's next round: wait until one matches.
    const rand = seededRandom(11);
    await waitUntil(
      async () => {
        const r = await postJson(`${soc.gatewayHttp}/api/events`, {
          ...eventJson(normalFlow(rand, { id: "t", hostname: "t", site: "t", interface: "e" }, `ready-${Date.now()}`, Date.now())),
          srcIp: BAD,
        });
        return r.status === 200 && (r.body.alerts as string[]).includes("intel-match");
      },
      { timeoutMs: 30_000, everyMs: 300, what: "the detector knowing the indicators" },
    );
    const ingest = soc.roles["ingest-gateway"]?.endpoint as string;
    expect(await runPython([mode, path, ingest, BAD, SCAN_TARGET, scanPorts().join(",")])).toContain(`sent ${scanPorts().length}`);
    let alerts: Alert[] = [];
    await waitUntil(
      async () => {
        alerts = (await getJson(`${soc.sinkHttp}/api/alerts?limit=50`)).alerts as Alert[];
        return alerts.some((a) => a.rule === "port-scan" && a.subject === BAD);
      },
      { timeoutMs: 20_000, everyMs: 200, what: "the port-scan alert from the Python producer's events" },
    );
    expect(alerts.find((a) => a.rule === "intel-match" && a.subject === BAD)?.severity).toBe("high");
    expect(soc.roles["ingest-gateway"]?.proc.find("malformed event dropped")).toEqual([]);
  });
});
