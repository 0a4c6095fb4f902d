// Load test: autocannon on `POST /api/events` of the whole SOC running as real processes (built-in
// registry), once with the built-in alert store and once with Redis, side by side in one run.
// The gateway answers 200 only once the event went through the pipeline and its alerts are stored
// (README, Pattern), so each request's latency runs from HTTP accept to alert stored.
// Every event carries a known-bad file hash from a source of its own: each raises an alert.
// Run: pnpm --filter lab10 bench [-- --amount 23000 --connections 5]
import { existsSync } from "node:fs";
import { ProcessPool } from "@zlabs/kit/testing";
import autocannon, { type Request, type Result } from "autocannon";
import { INDICATORS } from "../internal/intel.ts";
import { benignEvent, untilRuleFires } from "../test/support/attack.ts";
import { REDIS_BIN, RedisServer } from "../test/support/redis-server.ts";
import { getJson, startSoc } from "../test/support/soc.ts";

/** The target: 100x the seed system's 230 requests, 0 % failures, average under 50 ms. */
const TARGET_REQUESTS = 23_000;
const TARGET_AVG_MS = 50;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isInteger(v) && v > 0 ? v : fallback;
}
const AMOUNT = flag("amount", TARGET_REQUESTS);
const CONNECTIONS = flag("connections", 5);
const BAD_HASH = INDICATORS.find((i) => i.kind === "hash")?.value as string;

interface Row {
  store: string;
  result: Result;
  alertsStored: number;
  /** Acknowledged events whose answer named their alert (intel-hash). */
  withAlert: number;
  wallSeconds: number;
}

/** The i-th event: its own source address (so its alert is new), a known-bad file hash. */
function eventBody(i: number, base: Record<string, unknown>): string {
  const src = `10.${100 + ((i >> 16) & 0x7f)}.${(i >> 8) & 0xff}.${i & 0xff}`;
  return JSON.stringify({ ...base, id: `bench-${process.pid}-${i}`, traceId: `bench-${i}`, srcIp: src, fileSha256: BAD_HASH });
}

async function runOne(store: string, storeFlag: string): Promise<Row> {
  const procs = new ProcessPool();
  try {
    // Indicators live 3 feed rounds: 5 s rounds keep them through a loaded detector's slow moments.
    const soc = await startSoc(procs, { "alert-sink": ["--store", storeFlag], "intel-feed": ["--republish-ms", "5000"] });
    // Warm: the detectors hold the feed's indicators (an event from a known-bad address raises intel-match).
    await untilRuleFires(soc.gatewayHttp, "intel-match", 60_000);
    const before = (await getJson(`${soc.sinkHttp}/api/stats`)) as { stored?: number };
    const base = benignEvent(7, "bench");
    let i = 0;
    let withAlert = 0;
    const started = performance.now();
    const options = {
      url: soc.gatewayHttp,
      connections: CONNECTIONS,
      amount: AMOUNT,
      timeout: 30,
      requests: [
        {
          method: "POST",
          path: "/api/events",
          headers: { "content-type": "application/json" },
          setupRequest: (req: Request) => ({ ...req, body: eventBody(i++, base) }),
          onResponse: (status: number, body: string) => {
            if (status === 200 && body.includes('"intel-hash"')) withAlert += 1;
          },
        },
      ],
    };
    // A role that dies during the run ends it at once, with its last lines (instead of 30 s timeouts).
    const result = await new Promise<Result>((resolve, reject) => {
      const instance = autocannon(options, (err, res) => {
        clearInterval(watch);
        if (err) reject(err);
        else resolve(res);
      });
      const watch = setInterval(() => {
        const dead = procs.all.find((p) => !p.running);
        if (!dead) return;
        clearInterval(watch);
        instance.stop();
        reject(new Error(`${dead.name} exited during the run:\n${dead.tail(30)}`));
      }, 200);
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const after = (await getJson(`${soc.sinkHttp}/api/stats`)) as { stored?: number };
    return { store, result, alertsStored: (after.stored ?? 0) - (before.stored ?? 0), withAlert, wallSeconds };
  } finally {
    await procs.stopAll();
  }
}

function table(rows: Row[]): string {
  const head = ["store", "requests", "failures", "avg ms", "p50 ms", "p99 ms", "max ms", "events/s", "with alert", "alerts stored"];
  const lines = rows.map((r) => {
    const failures = r.result.errors + r.result.timeouts + r.result.non2xx;
    const total = r.result["2xx"] + r.result.non2xx + r.result.errors;
    return [
      r.store,
      String(total),
      `${failures} (${((100 * failures) / Math.max(1, total)).toFixed(2)} %)`,
      r.result.latency.average.toFixed(1),
      String(r.result.latency.p50),
      String(r.result.latency.p99),
      String(r.result.latency.max),
      Math.round(r.result["2xx"] / r.wallSeconds).toLocaleString("en-US"),
      String(r.withAlert),
      String(r.alertsStored),
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, k) => c.padEnd(widths[k] as number)).join(" | ")} |`;
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
}

async function main(): Promise<void> {
  console.log(`lab10 load test: ${AMOUNT} POST /api/events per store, ${CONNECTIONS} connections (autocannon 8)`);
  const rows: Row[] = [];
  rows.push(await runOne("built-in (memory)", "memory"));
  if (existsSync(REDIS_BIN)) {
    const redis = await RedisServer.start();
    try {
      rows.push(await runOne("Redis", redis.url));
    } finally {
      await redis.stop();
    }
  } else console.log(`Redis row skipped: ${REDIS_BIN} is not installed`);
  console.log(`\n${table(rows)}\n`);
  console.log("latency: from the request sent to the 200, which the gateway sends once the event's alert is stored");
  for (const r of rows) {
    const failures = r.result.errors + r.result.timeouts + r.result.non2xx;
    const total = r.result["2xx"] + r.result.non2xx + r.result.errors;
    const ok = total >= TARGET_REQUESTS && failures === 0 && r.result.latency.average < TARGET_AVG_MS;
    console.log(
      `${r.store}: target ${TARGET_REQUESTS.toLocaleString("en-US")} requests, 0 % failures, average < ${TARGET_AVG_MS} ms: ${ok ? "met" : "NOT met"}`,
    );
  }
}

await main();
