// Test helpers: the real processes of the chain on free ports, and the OTLP JSON the collector writes.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type ProcessPool, type RoleProcess } from "@zlabs/kit/testing";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
export const WAIT_MS = 20_000;

export interface Chain {
  collector: RoleProcess;
  gateway: RoleProcess;
  enricher: RoleProcess;
  scorer: RoleProcess;
  endpoints: { collector: string; gateway: string; enricher: string; scorer: string };
  dir: string;
  /** Starts (again) the collector on its endpoint. */
  startCollector(extra?: string[]): Promise<RoleProcess>;
  cleanup(): void;
}

export async function startChain(
  procs: ProcessPool,
  opts: { sample?: number; collectorArgs?: string[]; serviceArgs?: string[]; collector?: boolean; settleMs?: number } = {},
): Promise<Chain> {
  const [collector, gateway, enricher, scorer] = (await freeTcpEndpoints(4)) as [string, string, string, string];
  const dir = mkdtempSync(join(tmpdir(), "lab20-"));
  const common = ["--collector", collector, "--flush", "50", ...(opts.serviceArgs ?? [])];
  const chain = {
    endpoints: { collector, gateway, enricher, scorer },
    dir,
    async startCollector(extra: string[] = []) {
      const p = procs.start({
        labDir,
        cmd: "cmd/trace-collector.ts",
        name: "collector",
        args: ["--bind", collector, "--settle", String(opts.settleMs ?? 300), "--dir", dir, ...(opts.collectorArgs ?? []), ...extra],
      });
      await p.waitForLog("listening", WAIT_MS);
      chain.collector = p;
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  } as Chain;
  if (opts.collector !== false) await chain.startCollector();
  const service = (stage: string, bind: string, next: string | undefined, extra: string[] = []) =>
    procs.start({
      labDir,
      cmd: "cmd/monitored-service.ts",
      name: stage,
      args: ["--stage", stage, "--bind", bind, ...(next ? ["--next", next] : []), ...common, ...extra],
    });
  chain.scorer = service("scorer", scorer, undefined);
  chain.enricher = service("enricher", enricher, scorer);
  chain.gateway = service("gateway", gateway, enricher, ["--sample", String(opts.sample ?? 1)]);
  await Promise.all([chain.scorer, chain.enricher, chain.gateway].map((p) => p.waitForLog("listening", WAIT_MS)));
  return chain;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean } }[];
  service: string;
}

/** The transaction id (the client's request id) a trace's gateway SERVER span carries as `tx.id`. */
export function txIdOf(spans: OtlpSpan[]): number | undefined {
  const server = spans.find((s) => s.service === "gateway" && s.kind === 2);
  const id = server?.attributes?.find((a) => a.key === "tx.id")?.value.intValue;
  return id === undefined ? undefined : Number(id);
}

/** Every span in the collector's OTLP JSON files, by trace id. */
export function readTraces(dir: string): Map<string, OtlpSpan[]> {
  const out = new Map<string, OtlpSpan[]>();
  const file = join(dir, "traces.jsonl");
  if (!existsSync(file)) return out;
  // Only whole lines: the collector may be appending the last one as this reads.
  const lines = readFileSync(file, "utf8").split("\n");
  lines.pop();
  for (const line of lines) {
    if (!line) continue;
    const req = JSON.parse(line) as {
      resourceSpans: { resource: { attributes: { value: { stringValue: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
    };
    for (const rs of req.resourceSpans) {
      const service = rs.resource.attributes[0]?.value.stringValue ?? "?";
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans) {
          const list = out.get(s.traceId) ?? [];
          list.push({ ...s, service });
          out.set(s.traceId, list);
        }
    }
  }
  return out;
}
