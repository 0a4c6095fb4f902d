/**
 * The bare relay the benchmark compares the broker with: one ROUTER, the same MDP frames between
 * the same clients and workers, with the least bookkeeping that can work. A worker takes one
 * request at a time, so even the bare relay must know which workers are free and what each works
 * on (the client's envelope, for the reply): an array of free workers, an array of waiting
 * requests, a map of envelopes. No validation, no services (one pool), no heartbeats, no expiry,
 * no re-dispatch, no MMI.
 */
import { parseConfig } from "@zlabs/kit";
import { Router } from "zeromq";

const config = parseConfig({
  lab: "lab12",
  role: "bare-relay",
  describe: "benchmark baseline: a ROUTER relay of MDP frames with minimal bookkeeping",
  options: { endpoint: { type: "string", demandOption: true } },
});

const socket = new Router({ linger: 0, sendTimeout: 0 });
await socket.bind(config.endpoint);
const empty = Buffer.alloc(0);
const request = Buffer.from([2]);
const header = Buffer.from("MDPW01");
const free: Buffer[] = [];
/** [client envelope, service, body] */
const waiting: [Buffer[], Buffer, Buffer[]][] = [];
const working = new Map<string, [Buffer[], Buffer]>();

function dispatch(): void {
  while (free.length > 0 && waiting.length > 0) {
    const worker = free.shift() as Buffer;
    const [envelope, service, body] = waiting.shift() as [Buffer[], Buffer, Buffer[]];
    working.set(worker.toString("latin1"), [envelope, service]);
    void socket.send([worker, empty, header, request, envelope[0] as Buffer, empty, ...body]);
  }
}

const loop = (async () => {
  for await (const frames of socket) {
    const sender = frames[0] as Buffer;
    if (frames[1]?.length === 0 && frames[2]?.toString() === "MDPW01") {
      const command = frames[3]?.[0];
      if (command === 1) process.stdout.write(`${JSON.stringify({ msg: "worker registered" })}\n`);
      if (command === 3) {
        const job = working.get(sender.toString("latin1"));
        if (job) void socket.send([...job[0], empty, Buffer.from("MDPC01"), job[1], ...frames.slice(6)]);
      }
      if (command === 1 || command === 3) free.push(sender);
    } else {
      const at = frames.findIndex((f) => f.length === 0);
      waiting.push([frames.slice(0, at), frames[at + 2] as Buffer, frames.slice(at + 3)]);
    }
    dispatch();
  }
})();
process.on("SIGTERM", () => socket.close());
process.stdout.write(`${JSON.stringify({ msg: "listening" })}\n`);
await loop.catch(() => {});
process.exit(0);
