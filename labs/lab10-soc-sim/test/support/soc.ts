// Core's test harness: the whole SOC as real processes on ephemeral loopback ports, found through a
// built-in registry on a free port; each role's ready line gives its endpoint and meta.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, type ProcessPool, type RoleProcess } from "@zlabs/kit/testing";

export const labDir = fileURLToPath(new URL("../..", import.meta.url));
export const READY_MS = 120_000;
/** Short leases so a killed service leaves the registry within seconds. */
export const LEASE = ["--lease-ttl-ms", "3000", "--lease-renew-ms", "1000"];

export interface Ready {
  proc: RoleProcess;
  endpoint: string;
  meta: Record<string, string>;
}

export interface Soc {
  registry: string;
  registryProc: RoleProcess;
  roles: Record<string, Ready>;
  gatewayHttp: string;
  sinkHttp: string;
  pageUrl: string;
}

export const ROLES = [
  "ingest-gateway",
  "event-enricher",
  "intel-feed",
  "detection-broker",
  "detector",
  "alert-sink",
  "soc-dashboard",
] as const;

const PORT_ARGS: Record<string, string[]> = {
  "ingest-gateway": ["--port", "0", "--http-port", "0", "--retry-ms", "1000"],
  "event-enricher": ["--port", "0"],
  "intel-feed": ["--port", "0", "--republish-ms", "2000"],
  "detection-broker": ["--port", "0", "--heartbeat", "500"],
  detector: ["--heartbeat", "500"],
  "alert-sink": ["--port", "0", "--done-port", "0"],
  "soc-dashboard": ["--port", "0", "--http-port", "0"],
};

export function startRole(procs: ProcessPool, registry: string, role: string, extra: string[] = [], instance = role): RoleProcess {
  return procs.start({
    labDir,
    cmd: `cmd/${role}.ts`,
    name: instance,
    args: ["--registry", `builtin:${registry}`, "--instance", instance, ...LEASE, ...(PORT_ARGS[role] ?? []), ...extra],
  });
}

export async function waitReady(proc: RoleProcess, from = 0): Promise<Ready> {
  const line = await proc.waitForLog("ready", READY_MS, from);
  return { proc, endpoint: String(line.endpoint), meta: (line.meta ?? {}) as Record<string, string> };
}

export async function startRegistry(procs: ProcessPool, endpoint?: string): Promise<{ registry: string; proc: RoleProcess }> {
  const registry = endpoint ?? (await freeTcpEndpoint());
  const port = registry.split(":").pop() as string;
  const proc = procs.start({ labDir, cmd: "cmd/service-registry.ts", name: "service-registry", args: ["--port", port] });
  await proc.waitForLog("ready", READY_MS);
  return { registry, proc };
}

/** Every service role once (extra flags per role), all started at once: start order does not matter. */
export async function startSoc(procs: ProcessPool, extra: Partial<Record<string, string[]>> = {}): Promise<Soc> {
  const { registry, proc } = await startRegistry(procs);
  const started = ROLES.map((role) => [role, startRole(procs, registry, role, extra[role] ?? [])] as const);
  const roles: Record<string, Ready> = {};
  for (const [role, p] of started) roles[role] = await waitReady(p);
  const r = (role: string) => roles[role] as Ready;
  return {
    registry,
    registryProc: proc,
    roles,
    gatewayHttp: r("ingest-gateway").meta.http as string,
    sinkHttp: r("alert-sink").meta.http as string,
    pageUrl: r("soc-dashboard").meta.http as string,
  };
}

export async function postJson(url: string, body: unknown, timeoutMs = 30_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: { text } };
  }
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as Record<string, unknown>;
}
