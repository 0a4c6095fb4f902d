// Messages per second through our manual proxy (capture off, and on: a capture file and a tap
// subscriber), through zeromq.js's built-in Proxy (libzmq's zmq_proxy_steerable), and with no proxy
// at all, in one run, interleaved, medians of the rounds. Every proxy is a process of its own; the
// clients and echo workers are in this process.
//   pnpm --filter lab22 bench [-- --requests 20000 --clients 4 --inflight 50 --rounds 3 --bytes 100]
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freeTcpEndpoints } from "@zlabs/kit/testing";
import { Dealer, Router } from "zeromq";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "20000" },
    clients: { type: "string", default: "4" },
    inflight: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    bytes: { type: "string", default: "100" },
    workers: { type: "string", default: "2" },
  },
});
const args = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])) as Record<
  "requests" | "clients" | "inflight" | "rounds" | "bytes" | "workers",
  number
>;
for (const [k, v] of Object.entries(args)) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a whole number >= 1`);

const labDir = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "lab22-bench-"));
const children: ChildProcess[] = [];

function start(args: string[], readyLine: RegExp, level = "warn"): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: labDir,
    env: { ...process.env, LOG_LEVEL: level, LOG_FORMAT: "json", ZLABS_VIEW: "off" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start`)), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (readyLine.test(line)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

/** DEALER workers at a back end that echo every message (envelope and all). */
function echoWorkers(back: string, n: number): Dealer[] {
  return Array.from({ length: n }, () => {
    const w = new Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    w.connect(back);
    void (async () => {
      try {
        for (;;) await w.send(await w.receive());
      } catch {
        // closed at the end
      }
    })();
    return w;
  });
}

/** The direct case: one ROUTER echo server the clients talk to with no proxy between. */
async function directServer(): Promise<{ endpoint: string; socket: Router }> {
  const r = new Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  await r.bind("tcp://127.0.0.1:*");
  void (async () => {
    try {
      for (;;) await r.send(await r.receive());
    } catch {
      // closed
    }
  })();
  return { endpoint: r.lastEndpoint as string, socket: r };
}

/** Round trips per second: `clients` DEALERs, each keeping `inflight` requests out, `requests` in all. */
async function load(front: string): Promise<number> {
  const body = Buffer.alloc(args.bytes, 0x61);
  const clients = Array.from({ length: args.clients }, () => {
    const c = new Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    c.connect(front);
    return c;
  });
  try {
    // Warm-up: every client has had an answer before the clock starts.
    await Promise.all(
      clients.map(async (c) => {
        await c.send(["", body]);
        await c.receive();
      }),
    );
    const quota = Math.ceil(args.requests / args.clients);
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        let sent = 0;
        let got = 0;
        for (; sent < Math.min(args.inflight, quota); sent++) await c.send(["", body]);
        while (got < quota) {
          await c.receive();
          got += 1;
          if (sent < quota) {
            sent += 1;
            await c.send(["", body]);
          }
        }
      }),
    );
    return (quota * args.clients * 1000) / (performance.now() - t0);
  } finally {
    for (const c of clients) c.close();
  }
}

interface Case {
  name: string;
  front: string;
}

async function main(): Promise<void> {
  const cases: Case[] = [];
  const sockets: { close(): void }[] = [];
  const direct = await directServer();
  sockets.push(direct.socket);
  cases.push({ name: "direct (no proxy)", front: direct.endpoint });

  const [bf, bb] = (await freeTcpEndpoints(2)) as [string, string];
  await start(["bench/builtin-proxy.ts", bf, bb], /^ready$/);
  sockets.push(...echoWorkers(bb, args.workers));
  cases.push({ name: "built-in Proxy (libzmq, zeromq.js)", front: bf });

  for (const capture of [false, true]) {
    const [f, b, c, t] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const flags = ["--front", f, "--back", b, "--control", c, "--capture", capture ? t : "off"];
    if (capture) flags.push("--capture-file", join(tmp, "audit.jsonl"), "--capture-file-bytes", String(64 * 1024 * 1024));
    // At LOG_LEVEL info for its "listening" line; the hot path logs nothing.
    const proxy = spawn(process.execPath, ["--import", "tsx", "cmd/monitored-broker.ts", ...flags], {
      cwd: labDir,
      env: { ...process.env, LOG_LEVEL: "info", LOG_FORMAT: "json", ZLABS_VIEW: "off" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(proxy);
    await new Promise<void>((resolve) =>
      createInterface({ input: proxy.stdout as NodeJS.ReadableStream }).on("line", (l) => {
        if (l.includes('"listening"')) resolve();
      }),
    );
    sockets.push(...echoWorkers(b, args.workers));
    if (capture) await start(["cmd/auditor.ts", "--tap", t], /auditing the tap/, "info");
    cases.push({ name: capture ? "our manual proxy, capture on (file + tap subscriber)" : "our manual proxy, capture off", front: f });
  }

  const results = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 1; round <= args.rounds; round++) {
    for (const c of cases) {
      const rate = await load(c.front);
      results.get(c.name)?.push(rate);
      console.error(`round ${round}: ${c.name}: ${Math.round(rate)} round trips/s`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const builtin = median(results.get(cases[1]?.name as string) ?? []);
  console.log(
    `\n${args.requests} round trips per case and round, ${args.clients} clients x ${args.inflight} in flight, ${args.bytes}-byte bodies, ${args.workers} echo workers, median of ${args.rounds} rounds\n`,
  );
  console.log("| Path | round trips/s | messages/s through the proxy | vs built-in Proxy | runs (round trips/s) |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const c of cases) {
    const xs = results.get(c.name) ?? [];
    const m = median(xs);
    console.log(
      `| ${c.name} | ${Math.round(m).toLocaleString("en-US")} | ${Math.round(2 * m).toLocaleString("en-US")} | ${(m / builtin).toFixed(2)}x | ${xs.map((x) => Math.round(x).toLocaleString("en-US")).join(", ")} |`,
    );
  }
  for (const s of sockets) s.close();
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
