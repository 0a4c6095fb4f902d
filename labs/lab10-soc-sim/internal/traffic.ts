// Synthetic flow records: the everyday traffic of an office network, and the attack the demo and the
// tests inject (a SYN port scan from a known-bad address). Pure, seeded: the tests and the bench use it.
import type { CaptureNode, SecurityEvent } from "./event.ts";
import { FEATURE_KEYS, PROTO_TCP, PROTO_UDP, PROTOCOL_NAMES, TCP_ACK, TCP_FIN, TCP_SYN } from "./event.ts";
import { KNOWN_BAD_IP } from "./intel.ts";

export const SCAN_PORTS = 40;
export const SCAN_TARGET = "10.0.0.42";

const SERVICES: { ip: string; port: number; protocol: number; domain: string }[] = [
  { ip: "8.8.8.8", port: 53, protocol: PROTO_UDP, domain: "dns.google" },
  { ip: "1.1.1.1", port: 53, protocol: PROTO_UDP, domain: "one.one.one.one" },
  { ip: "151.101.1.69", port: 443, protocol: PROTO_TCP, domain: "www.example.org" },
  { ip: "93.184.216.34", port: 443, protocol: PROTO_TCP, domain: "example.com" },
  { ip: "172.16.4.10", port: 5432, protocol: PROTO_TCP, domain: "db.internal" },
];

function features(
  rand: () => number,
  packetsOut: number,
  packetsIn: number,
  bytesOut: number,
  bytesIn: number,
  durationUs: number,
): Record<string, number> {
  const f: Record<string, number> = {};
  for (const k of FEATURE_KEYS) f[k] = 0;
  const secs = Math.max(durationUs, 1) / 1e6;
  const pkts = packetsOut + packetsIn;
  f.flowDuration = durationUs;
  f.totFwdPkts = packetsOut;
  f.totBwdPkts = packetsIn;
  f.totlenFwdPkts = bytesOut;
  f.totlenBwdPkts = bytesIn;
  f.fwdPktLenMean = packetsOut ? bytesOut / packetsOut : 0;
  f.bwdPktLenMean = packetsIn ? bytesIn / packetsIn : 0;
  f.fwdPktLenMax = f.fwdPktLenMean * (1 + rand());
  f.bwdPktLenMax = f.bwdPktLenMean * (1 + rand());
  f.flowBytsS = (bytesOut + bytesIn) / secs;
  f.flowPktsS = pkts / secs;
  f.fwdPktsS = packetsOut / secs;
  f.bwdPktsS = packetsIn / secs;
  f.flowIatMean = pkts > 1 ? durationUs / (pkts - 1) : 0;
  f.pktLenMean = pkts ? (bytesOut + bytesIn) / pkts : 0;
  f.pktSizeAvg = f.pktLenMean;
  f.downUpRatio = packetsOut ? packetsIn / packetsOut : 0;
  f.subflowFwdPkts = packetsOut;
  f.subflowBwdPkts = packetsIn;
  f.subflowFwdByts = bytesOut;
  f.subflowBwdByts = bytesIn;
  f.initFwdWinByts = 64240;
  f.initBwdWinByts = packetsIn ? 65160 : 0;
  f.activeMean = durationUs * 0.8;
  f.idleMean = durationUs * 0.2;
  return f;
}

export function normalFlow(rand: () => number, node: CaptureNode, id: string, now: number): SecurityEvent {
  const svc = SERVICES[Math.floor(rand() * SERVICES.length)] as (typeof SERVICES)[number];
  const packetsOut = 2 + Math.floor(rand() * 20);
  const packetsIn = 2 + Math.floor(rand() * 40);
  const bytesOut = packetsOut * (60 + Math.floor(rand() * 400));
  const bytesIn = packetsIn * (60 + Math.floor(rand() * 1200));
  const durationUs = 2000 + Math.floor(rand() * 2_000_000);
  return {
    id,
    timestampMs: now,
    srcIp: `10.0.${Math.floor(rand() * 4)}.${10 + Math.floor(rand() * 40)}`,
    dstIp: svc.ip,
    srcPort: 32768 + Math.floor(rand() * 28000),
    dstPort: svc.port,
    protocol: svc.protocol,
    tcpFlags: svc.protocol === PROTO_TCP ? TCP_SYN | TCP_ACK | TCP_FIN : 0,
    packetsIn,
    packetsOut,
    bytesIn,
    bytesOut,
    durationUs,
    firstSeenMs: now,
    lastSeenMs: now + Math.round(durationUs / 1000),
    features: features(rand, packetsOut, packetsIn, bytesOut, bytesIn, durationUs),
    node,
    domain: svc.domain,
    fileSha256: "",
    traceId: id,
    gateway: "",
    receivedMs: 0,
    attempt: 0,
    enrichedMs: 0,
  };
}

/** One probe of a SYN scan: one packet out, nothing back. */
export function scanProbe(
  rand: () => number,
  node: CaptureNode,
  id: string,
  now: number,
  port: number,
  from = KNOWN_BAD_IP,
  target = SCAN_TARGET,
): SecurityEvent {
  return {
    ...normalFlow(rand, node, id, now),
    srcIp: from,
    dstIp: target,
    srcPort: 40000 + Math.floor(rand() * 20000),
    dstPort: port,
    protocol: PROTO_TCP,
    tcpFlags: TCP_SYN,
    packetsIn: 0,
    packetsOut: 1,
    bytesIn: 0,
    bytesOut: 60,
    durationUs: 0,
    features: features(rand, 1, 0, 60, 0, 0),
    domain: "",
  };
}

/** The ports a scan probes (well-known ones first). */
export function scanPorts(n = SCAN_PORTS): number[] {
  const common = [21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 995, 1433, 1723, 3306, 3389, 5900, 8080];
  const out = [...common];
  for (let p = 8000; out.length < n; p++) if (!out.includes(p)) out.push(p);
  return out.slice(0, n);
}

/** The HTTP body of an event (what `POST /api/events` takes: no pipeline fields, protocol by name). */
export function eventJson(e: SecurityEvent): Record<string, unknown> {
  const { gateway: _g, receivedMs: _r, attempt: _a, enrichedMs: _e, srcGeo: _s, dstGeo: _d, ...rest } = e;
  return { ...rest, protocol: PROTOCOL_NAMES[e.protocol] ?? "tcp" };
}
