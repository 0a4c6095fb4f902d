// pnpm --filter lab19 bench: what CURVE costs on loopback, side by side with plain TCP (NULL), in
// one run. PUSH -> PULL streams of 64 B and 64 KiB messages (messages/s, MB/s), and connections
// with a finished handshake per second (a fresh DEALER each time: TCP connect, ZMTP greeting,
// and for CURVE the HELLO/WELCOME/INITIATE/READY exchange with its Curve25519 work).
import * as zmq from "zeromq";
import { generateKeyPair } from "../internal/keys.ts";

const STREAMS = [
  { size: 64, count: Number(process.env.BENCH_SMALL ?? 200_000) },
  { size: 64 * 1024, count: Number(process.env.BENCH_LARGE ?? 3_000) },
];
const HANDSHAKES = Number(process.env.BENCH_HANDSHAKES ?? 300);
/** Each figure is the median of this many runs, plain and CURVE interleaved (a shared machine is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const server = generateKeyPair();
const client = generateKeyPair();
type Mode = "plain" | "curve";
const serverOptions = (mode: Mode) => (mode === "curve" ? { curveServer: true, curveSecretKey: server.secretKey } : {});
const clientOptions = (mode: Mode) =>
  mode === "curve" ? { curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey } : {};

async function stream(mode: Mode, size: number, count: number): Promise<{ perSec: number }> {
  const pull = new zmq.Pull({ linger: 0, receiveHighWaterMark: 10_000, ...serverOptions(mode) });
  await pull.bind("tcp://127.0.0.1:*");
  const push = new zmq.Push({ linger: 0, sendHighWaterMark: 10_000, ...clientOptions(mode) });
  push.connect(pull.lastEndpoint as string);
  const body = Buffer.alloc(size, 0x5a); // never changed, so sharing it across sends is safe
  await push.send(body); // the first message waits for the handshake: not timed
  await pull.receive();
  const received = (async () => {
    let n = 0;
    for await (const _ of pull) if (++n === count) break;
  })();
  const start = performance.now();
  for (let i = 0; i < count; i++) await push.send(body);
  await received;
  const seconds = (performance.now() - start) / 1000;
  push.close();
  pull.close();
  return { perSec: count / seconds };
}

async function handshakes(mode: Mode, count: number): Promise<number> {
  const router = new zmq.Router({ linger: 0, ...serverOptions(mode) });
  await router.bind("tcp://127.0.0.1:*");
  const endpoint = router.lastEndpoint as string;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const dealer = new zmq.Dealer({ linger: 0, ...clientOptions(mode) });
    const done = new Promise<void>((resolve, reject) => {
      dealer.events.on("handshake", () => resolve());
      dealer.events.on("handshake:error:protocol", (e) => reject(e.error));
    });
    dealer.connect(endpoint);
    await done;
    dealer.close();
  }
  const perSec = count / ((performance.now() - start) / 1000);
  router.close();
  return perSec;
}

const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const label = (size: number) => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);

console.log(`lab19 bench: libzmq ${zmq.version}, Node ${process.version}, loopback TCP, one PUSH -> one PULL, median of ${ROUNDS} runs`);
console.log("");
console.log("| messages | count | plain msg/s | CURVE msg/s | plain MB/s | CURVE MB/s | CURVE / plain |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const { size, count } of STREAMS) {
  const runs: Record<Mode, number[]> = { plain: [], curve: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ["plain", "curve"] as const) runs[mode].push((await stream(mode, size, count)).perSec);
  }
  const plain = { perSec: median(runs.plain), mbPerSec: (median(runs.plain) * size) / 1e6 };
  const curve = { perSec: median(runs.curve), mbPerSec: (median(runs.curve) * size) / 1e6 };
  console.log(
    `| ${label(size)} | ${fmt(count)} | ${fmt(plain.perSec)} | ${fmt(curve.perSec)} | ${fmt(plain.mbPerSec, 1)} | ${fmt(curve.mbPerSec, 1)} | ${fmt(curve.perSec / plain.perSec, 2)} |`,
  );
}
const hs: Record<Mode, number[]> = { plain: [], curve: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of ["plain", "curve"] as const) hs[mode].push(await handshakes(mode, HANDSHAKES));
}
const plainHs = median(hs.plain);
const curveHs = median(hs.curve);
console.log("");
console.log("| connections, one after another | count | plain (NULL) /s | CURVE /s | CURVE / plain |");
console.log("|---|---:|---:|---:|---:|");
console.log(
  `| new DEALER, connect, handshake, close | ${fmt(HANDSHAKES)} | ${fmt(plainHs)} | ${fmt(curveHs)} | ${fmt(curveHs / plainHs, 2)} |`,
);
