/**
 * lab12 benchmark, one run, side by side:
 *  1. requests/s through our Majordomo broker (cmd/majordomo-broker.ts) with 100 requests in flight
 *     and 1, 2, 4 echo workers (cmd/echo-worker.ts), against a bare ROUTER relay of the same shape
 *     (bench/relay.ts: same frames, same workers, same client, least bookkeeping); the ratio;
 *  2. the asynchronous client (one DEALER, 100 in flight) against the synchronous one (one request
 *     at a time), through our broker with 4 workers.
 * Every intermediary and worker is its own process; the load comes from this one. Both
 * intermediaries run at once, each idle while the other is measured, and their runs alternate.
 * Heartbeats are set to a minute on both sides (the relay sends none). The table shows medians,
 * and each intermediary's CPU time per request (its whole process, from /proc): on a loaded
 * machine a steadier measure of what each costs than the rate, which follows the scheduler.
 *
 *   pnpm --filter lab12 bench [-- --requests 20000 --inflight 100 --rounds 3]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { intOption, parseConfig } from "@zlabs/kit";
import { freeTcpEndpoint, ProcessPool, type RoleProcess, testLogger } from "@zlabs/kit/testing";
import { MdpAsyncClient } from "../internal/async-client.ts";
import { MdpClient } from "../internal/client.ts";

const config = parseConfig({
  lab: "lab12",
  role: "bench",
  describe: "Majordomo throughput: our broker against a bare ROUTER relay, async client against sync",
  options: {
    requests: intOption(20_000, "requests per timed run", { min: 1 }),
    inflight: intOption(100, "requests in flight (async client)", { min: 1 }),
    rounds: intOption(3, "runs of each case (the table shows medians)", { min: 1 }),
    syncRequests: intOption(5000, "requests for the synchronous client's run", { min: 1 }),
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));
const log = testLogger("lab12");
const QUIET = ["--heartbeat", "60000"];
const body = [Buffer.from("tiny request")];

type Kind = "broker" | "relay";

/** CPU time of a whole process (all its threads), in µs, from /proc (clock ticks of 10 ms). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function asyncLoad(client: MdpAsyncClient, requests: number): Promise<number> {
  let sent = 0;
  const started = performance.now();
  const lane = async () => {
    while (sent < requests) {
      sent += 1;
      await client.request("echo", body);
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.inflight, requests) }, lane));
  return requests / ((performance.now() - started) / 1000);
}

async function syncLoad(client: MdpClient, requests: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < requests; i++) await client.request("echo", body);
  return requests / ((performance.now() - started) / 1000);
}

interface Hub {
  kind: Kind;
  endpoint: string;
  proc: RoleProcess;
  workers: number;
  client: MdpAsyncClient;
  rates: number[];
  /** CPU µs per request of the intermediary's process, per run. */
  cpu: number[];
}

/** Starts the intermediary (no worker yet) and a client for it. */
async function startHub(procs: ProcessPool, kind: Kind): Promise<Hub> {
  const endpoint = await freeTcpEndpoint();
  const cmd = kind === "broker" ? "cmd/majordomo-broker.ts" : "bench/relay.ts";
  // The broker logs nothing per request at info: its "worker registered" lines say when all are in.
  const proc = procs.start({
    labDir,
    cmd,
    name: kind,
    env: { LOG_LEVEL: "info" },
    args: ["--endpoint", endpoint, ...(kind === "broker" ? QUIET : [])],
  });
  await proc.waitForLog("listening", 30_000);
  return { kind, endpoint, proc, workers: 0, client: new MdpAsyncClient({ broker: endpoint, timeoutMs: 30_000 }, log), rates: [], cpu: [] };
}

/** Adds echo workers up to `count`; resolves when the intermediary has seen each one's READY. */
async function growTo(procs: ProcessPool, hub: Hub, count: number): Promise<void> {
  for (; hub.workers < count; hub.workers++)
    procs.start({
      labDir,
      cmd: "cmd/echo-worker.ts",
      name: `${hub.kind}-w${hub.workers + 1}`,
      env: { LOG_LEVEL: "warn" },
      args: ["--broker", hub.endpoint, ...QUIET],
    });
  for (let n = 0, at = 0; n < count; n++) at = hub.proc.logs.indexOf(await hub.proc.waitForLog("worker registered", 30_000, at)) + 1;
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US").padStart(8);
const out = (line: string) => process.stdout.write(`${line}\n`);

const procs = new ProcessPool();
try {
  out(
    `lab12 bench: ${config.requests} requests a run, ${config.inflight} in flight, median of ${config.rounds} runs (broker and relay runs alternate)`,
  );
  out("");
  out("WORKERS  BROKER req/s  BARE RELAY req/s  RATIO (target >= 0.8)  CPU/req BROKER / RELAY  RELAY/BROKER");
  // Both intermediaries run side by side, idle while the other is measured; runs alternate, so a
  // busy neighbour on the machine slows both alike.
  const hubs = [await startHub(procs, "broker"), await startHub(procs, "relay")];
  for (const workers of [1, 2, 4]) {
    for (const hub of hubs) {
      await growTo(procs, hub, workers);
      await asyncLoad(hub.client, 2000); // warm-up: JIT, connections, every worker in the rotation
      hub.rates = [];
      hub.cpu = [];
    }
    for (let r = 0; r < config.rounds; r++)
      for (const hub of hubs) {
        const pid = hub.proc.pid as number;
        const before = cpuUs(pid);
        hub.rates.push(await asyncLoad(hub.client, config.requests));
        hub.cpu.push((cpuUs(pid) - before) / config.requests);
      }
    const [broker, relay] = hubs.map((h) => median(h.rates)) as [number, number];
    const [brokerCpu, relayCpu] = hubs.map((h) => median(h.cpu)) as [number, number];
    out(
      `${String(workers).padStart(7)}  ${fmt(broker)}      ${fmt(relay)}          ${(broker / relay).toFixed(2)}x` +
        `                   ${brokerCpu.toFixed(0).padStart(4)} / ${relayCpu.toFixed(0).padStart(4)} µs  ${(relayCpu / brokerCpu).toFixed(2)}x`,
    );
  }
  // The synchronous client against the asynchronous one, through the broker and its 4 workers.
  const broker = hubs[0] as Hub;
  const sync = new MdpClient({ broker: broker.endpoint, timeoutMs: 30_000, retries: 1 }, log);
  await syncLoad(sync, 500);
  const s: number[] = [];
  const a: number[] = [];
  for (let r = 0; r < config.rounds; r++) {
    s.push(await syncLoad(sync, config.syncRequests));
    a.push(await asyncLoad(broker.client, config.requests));
  }
  sync.close();
  out("");
  out(`through the broker, 4 workers: synchronous client  ${fmt(median(s))} req/s (1 in flight)`);
  out(
    `                               asynchronous client ${fmt(median(a))} req/s (${config.inflight} in flight)  → ${(median(a) / median(s)).toFixed(1)}x`,
  );
  for (const hub of hubs) hub.client.close();
} finally {
  await procs.stopAll();
}
process.exit(0);
