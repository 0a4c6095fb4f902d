// Messages/s through the real bridge process to 1, 10 and 100 Node `ws` clients, with the delivery
// latency (publisher send -> WebSocket message) p50/p99; then 1,000 connect/disconnect cycles with
// the bridge's RSS and open file descriptors before and after.
// Run: pnpm --filter lab16 bench
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { encode } from "@zlabs/kit";
import { RoleProcess, rssMiB, waitUntil } from "@zlabs/kit/testing";
import WebSocket from "ws";
import { Publisher } from "zeromq";
import { decodeServerMessage, encodeControl } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
/** Messages in flight at most (sent, not yet received by the slowest client): below every drop limit. */
const WINDOW = 500;
/** The light-load latency run: this many messages, one every PACE_MS. */
const PACED = 500;
const PACE_MS = 4;

const bridge = new RoleProcess({
  labDir,
  cmd: "cmd/zmq-bridge.ts",
  name: "bridge",
  args: ["--http", "127.0.0.1:0", "--upstream", "tcp://127.0.0.1:*"],
  env: { LOG_LEVEL: "info" },
});
const served = await bridge.waitForLog("page served", 30_000).catch(async (err) => {
  await bridge.stop();
  throw err;
});
const url = (served.url as string).replace(/^http/, "ws");
const origin = (served.url as string).replace(/\/$/, "");
const pub = new Publisher({ linger: 0, sendHighWaterMark: 100_000 });
pub.connect(served.upstream as string);
const fds = () => readdirSync(`/proc/${bridge.pid}/fd`).length;

interface Client {
  ws: WebSocket;
  received: number;
  latencies: number[];
}

async function connectClient(topic: string): Promise<Client> {
  const ws = new WebSocket(`${url}ws`, { origin });
  const c: Client = { ws, received: 0, latencies: [] };
  ws.on("message", (data: Buffer) => {
    if (data[0] !== 1) return;
    const m = decodeServerMessage(data);
    if (m.kind !== "live" || m.frames.length !== 3) return;
    const payload = m.frames[2] as Buffer;
    if (payload.length !== 8) return;
    c.received += 1;
    c.latencies.push(performance.now() - payload.readDoubleLE(0));
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.send(encodeControl("subscribe", topic));
  return c;
}

const header = encode({ v: 1, source: "bench", seq: 1, ts: 0, units: "", schema: "f64le", count: 1 });
function stamp(): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(performance.now(), 0);
  return b;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

async function run(n: number): Promise<string> {
  const topic = `bench${n}.x`;
  const clients = await Promise.all(Array.from({ length: n }, () => connectClient(topic)));
  // Until the upstream subscription has reached the publisher, messages are lost: warm up.
  await waitUntil(
    async () => {
      await pub.send([Buffer.from("warm"), header, Buffer.alloc(0)]);
      await pub.send([Buffer.from(topic), header, stamp()]);
      return clients.every((c) => c.received > 0);
    },
    { timeoutMs: 30_000, what: "every client to get a message", everyMs: 20 },
  );
  for (const c of clients) {
    c.received = 0;
    c.latencies = [];
  }
  const t0 = performance.now();
  let sent = 0;
  while (sent < MESSAGES) {
    const slowest = Math.min(...clients.map((c) => c.received));
    if (sent - slowest >= WINDOW) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    await pub.send([Buffer.from(topic), header, stamp()]);
    sent += 1;
  }
  await waitUntil(() => clients.every((c) => c.received >= MESSAGES), { timeoutMs: 120_000, what: "every message delivered", everyMs: 5 });
  const seconds = (performance.now() - t0) / 1000;
  const lat = clients.flatMap((c) => c.latencies).sort((a, b) => a - b);
  // Then the latency at a light, paced load (one message every PACE_MS): the bridge's own delay, no queue.
  for (const c of clients) {
    c.received = 0;
    c.latencies = [];
  }
  for (let i = 0; i < PACED; i++) {
    await pub.send([Buffer.from(topic), header, stamp()]);
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  await waitUntil(() => clients.every((c) => c.received >= PACED), {
    timeoutMs: 30_000,
    what: "every paced message delivered",
    everyMs: 5,
  });
  const light = clients.flatMap((c) => c.latencies).sort((a, b) => a - b);
  for (const c of clients) c.ws.terminate();
  const delivered = MESSAGES * n;
  const f = (x: number) => x.toFixed(2);
  return `| ${n} | ${Math.round(MESSAGES / seconds).toLocaleString("en")} | ${Math.round(delivered / seconds).toLocaleString("en")} | ${f(pct(lat, 50))} / ${f(pct(lat, 99))} | ${f(pct(light, 50))} / ${f(pct(light, 99))} |`;
}

async function cycles(count: number): Promise<string> {
  const once = async () => {
    const ws = new WebSocket(`${url}ws`, { origin });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    ws.send(encodeControl("subscribe", "cycle."));
    ws.close();
    await new Promise((resolve) => ws.once("close", resolve));
  };
  for (let i = 0; i < 100; i++) await once();
  await new Promise((r) => setTimeout(r, 500));
  const before = { rss: rssMiB(bridge.pid as number), fds: fds() };
  for (let i = 0; i < count; i += 10) await Promise.all(Array.from({ length: 10 }, once));
  await new Promise((r) => setTimeout(r, 1000));
  const after = { rss: rssMiB(bridge.pid as number), fds: fds() };
  return `${count.toLocaleString("en")} connect/subscribe/disconnect cycles: bridge RSS ${before.rss} -> ${after.rss} MiB, open fds ${before.fds} -> ${after.fds}`;
}

try {
  console.log(
    `lab16 bench: ${MESSAGES.toLocaleString("en")} messages (lab04 samples, 8-byte payload) through the bridge process, at most ${WINDOW} in flight;`,
  );
  console.log(`then ${PACED} messages one every ${PACE_MS} ms for the latency at a light load`);
  console.log(
    "| WebSocket clients | messages/s in | deliveries/s out | latency p50 / p99 ms, saturated | latency p50 / p99 ms, light load |",
  );
  console.log(
    "| ----------------: | ------------: | ---------------: | ------------------------------: | -------------------------------: |",
  );
  for (const n of [1, 10, 100]) console.log(await run(n));
  console.log(await cycles(1000));
} finally {
  pub.close();
  await bridge.stop();
}
