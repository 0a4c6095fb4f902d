// Drives the SOC from a test the way a sensor script would: JSON events posted to an ingest gateway's
// `POST /api/events`, an attack made of a SYN port scan from a known-bad address (core's traffic helpers).
import { seededRandom } from "@zlabs/kit";
import type { CaptureNode } from "../../internal/event.ts";
import { KNOWN_BAD_IP } from "../../internal/intel.ts";
import { eventJson, normalFlow, SCAN_TARGET, scanPorts, scanProbe } from "../../internal/traffic.ts";

export const TEST_NODE: CaptureNode = { id: "infra-test", hostname: "infra-test", site: "lab", interface: "eth0" };
/** What a test waits for an HTTP answer (the gateway acknowledges only once the event went the whole way). */
export const POST_TIMEOUT_MS = 30_000;

export interface Posted {
  status: number;
  body: { id?: string; score?: number; alerts?: string[]; error?: string };
}

let serial = 0;
export function eventId(prefix: string): string {
  serial += 1;
  return `${prefix}-${process.pid}-${serial}`;
}

export async function postEvent(gatewayHttp: string, event: Record<string, unknown>, timeoutMs = POST_TIMEOUT_MS): Promise<Posted> {
  const res = await fetch(`${gatewayHttp}/api/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: Posted["body"] = {};
  try {
    body = JSON.parse(text) as Posted["body"];
  } catch {
    body = { error: text };
  }
  return { status: res.status, body };
}

/** A harmless flow (background load). */
export function benignEvent(seed: number, prefix = "bg"): Record<string, unknown> {
  const rand = seededRandom(seed);
  return eventJson(normalFlow(rand, TEST_NODE, eventId(prefix), Date.now()));
}

/** A SYN scan of `ports` ports of SCAN_TARGET from `from` (a known-bad address by default): one event per port. */
export function scanEvents(from = KNOWN_BAD_IP, ports = scanPorts(), prefix = "scan"): Record<string, unknown>[] {
  const rand = seededRandom(ports.length);
  const now = Date.now();
  return ports.map((port, i) => eventJson(scanProbe(rand, TEST_NODE, eventId(prefix), now + i, port, from, SCAN_TARGET)));
}

/** Posts the scan, a few at a time, and returns every answer and the rules that fired. */
export async function driveAttack(
  gatewayHttp: string,
  from = KNOWN_BAD_IP,
  parallel = 4,
): Promise<{ answers: Posted[]; rules: Set<string> }> {
  const events = scanEvents(from);
  const answers: Posted[] = [];
  for (let i = 0; i < events.length; i += parallel) {
    answers.push(...(await Promise.all(events.slice(i, i + parallel).map((e) => postEvent(gatewayHttp, e)))));
  }
  return { answers, rules: new Set(answers.flatMap((a) => a.body.alerts ?? [])) };
}

/**
 * Posts one event from `from` (a known-bad address) again and again until its answer names `rule`:
 * the detectors learn the indicators from the intel feed's next round (PUB-SUB: a subscriber that joins
 * late waits for the next one), so a test waits for that event instead of assuming it happened.
 */
export async function untilRuleFires(gatewayHttp: string, rule: string, timeoutMs: number, from = KNOWN_BAD_IP): Promise<Posted> {
  const deadline = performance.now() + timeoutMs;
  let last: Posted | undefined;
  for (;;) {
    const event = { ...benignEvent(serial, "probe"), srcIp: from };
    last = await postEvent(gatewayHttp, event).catch((err: Error) => ({ status: 0, body: { error: err.message } }));
    if (last.status === 200 && last.body.alerts?.includes(rule)) return last;
    if (performance.now() > deadline) throw new Error(`no "${rule}" alert within ${timeoutMs} ms; last answer ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
