// The binding's ceiling for the bench: a bare zeromq.js PUB or SUB, nothing else. The publisher
// sends `buffers` Buffers of the frame size in turn, flat out, for the given seconds (never written,
// so sharing them is safe); the subscriber counts what arrives. Each prints its totals as a JSON line when it ends.
import { Publisher, Subscriber } from "zeromq";

const [role, endpoint, frameBytes, seconds, hwm, buffers = "1"] = process.argv.slice(2);
const bytes = Number(frameBytes);
const totals = (msg: string, extra: Record<string, number>) => {
  const u = process.resourceUsage();
  process.stdout.write(
    `${JSON.stringify({ msg, ...extra, maxRssMiB: Math.round(u.maxRSS / 1024), cpuSec: (u.userCPUTime + u.systemCPUTime) / 1e6 })}\n`,
  );
};

if (role === "pub") {
  const pub = new Publisher({ linger: 1000, sendHighWaterMark: Number(hwm) });
  await pub.bind(endpoint as string);
  const topic = Buffer.from("video.bare.");
  const header = Buffer.alloc(100, 1);
  const payloads = Array.from({ length: Number(buffers) }, (_, i) => Buffer.alloc(bytes, 7 + i));
  process.stdout.write(`${JSON.stringify({ msg: "bare on" })}\n`);
  // Give the subscribers time to connect and subscribe (the slow joiner), as the camera's run does.
  await new Promise((r) => setTimeout(r, 500));
  const end = performance.now() + Number(seconds) * 1000;
  let sent = 0;
  totals("bare sending", {});
  while (performance.now() < end) {
    await pub.send([topic, header, payloads[sent % payloads.length] as Buffer]);
    sent += 1;
    await new Promise((r) => setImmediate(r));
  }
  totals("bare done", { sent });
  pub.close();
} else {
  const sub = new Subscriber({ linger: 0, receiveHighWaterMark: Number(hwm), maxMessageSize: bytes + 4096 });
  sub.connect(endpoint as string);
  sub.subscribe("video.");
  let received = 0;
  let firstAt = 0;
  let lastAt = 0;
  process.on("SIGTERM", () => {
    totals("bare stopped", { frames: received, spanMs: Math.round(lastAt - firstAt) });
    process.exit(0);
  });
  process.stdout.write(`${JSON.stringify({ msg: "subscribed" })}\n`);
  for (;;) {
    const [, , payload] = await sub.receive();
    if (payload?.length !== bytes) continue;
    lastAt = performance.now();
    if (received === 0) firstAt = lastAt;
    received += 1;
  }
}
