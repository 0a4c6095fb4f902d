// What the socket tests share: a proxy in-process, clients and workers that count what they send.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, type SocketJar, type Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { Dealer, Reply, Request } from "zeromq";
import { CAPTURE_FILES_KEPT, CAPTURE_HWM } from "../internal/capture.ts";
import { MonitoredProxy, type ProxyConfig } from "../internal/monitored-broker.ts";
import { MAX_PEERS } from "../internal/peers.ts";

export const log = testLogger("lab22");
export const WAIT_MS = 30_000;

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "lab22-"));
}

export async function startProxy(tasks: Tasks, capture: Partial<ProxyConfig["capture"]> = {}, extra: Partial<ProxyConfig> = {}) {
  const proxy = new MonitoredProxy(
    {
      front: ANY_LOOPBACK_TCP,
      back: ANY_LOOPBACK_TCP,
      control: ANY_LOOPBACK_TCP,
      capture: { tap: ANY_LOOPBACK_TCP, fileBytes: 1 << 30, filesKept: CAPTURE_FILES_KEPT, hwm: CAPTURE_HWM, ...capture },
      maxPeers: MAX_PEERS,
      ...extra,
    },
    log,
  );
  await proxy.bind();
  const done = tasks.run((s) => proxy.run(s));
  return { proxy, done };
}

/** REP workers that answer "re:" + the request, each counting what it served. */
export function startRepWorkers(jar: SocketJar, back: string, n: number, signal: { stopped: boolean }) {
  const served: string[][] = [];
  for (let i = 0; i < n; i++) {
    const rep = jar.add(new Reply());
    rep.connect(back);
    const mine: string[] = [];
    served.push(mine);
    void (async () => {
      try {
        for (;;) {
          const [body] = await rep.receive();
          mine.push(String(body));
          await rep.send(`re:${String(body)}`);
        }
      } catch {
        // closed at the end of the test
      }
    })();
  }
  void signal;
  return served;
}

/** Lock-step REQ clients with fixed routing ids: each sends `count` requests, returns its replies in order. */
export async function reqClients(jar: SocketJar, front: string, ids: string[], count: number): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    ids.map(async (id) => {
      const req = jar.add(new Request({ routingId: id }));
      req.connect(front);
      const replies: string[] = [];
      for (let i = 0; i < count; i++) {
        await req.send(`${id}#${i}`);
        const [reply] = await withDeadline(req.receive(), WAIT_MS, `reply ${i} to ${id}`);
        replies.push(String(reply));
      }
      out[id] = replies;
    }),
  );
  return out;
}

/** A DEALER worker at the back end that echoes every message's frames plus a marker, keeping what it got. */
export function echoWorker(jar: SocketJar, back: string): Buffer[][] {
  const seen: Buffer[][] = [];
  const worker = jar.add(new Dealer());
  worker.connect(back);
  void (async () => {
    try {
      for (;;) {
        const frames = await worker.receive();
        seen.push(frames);
        await worker.send([...frames, Buffer.from("echo")]);
      }
    } catch {
      // closed
    }
  })();
  return seen;
}

/** Sends a command to a control socket (REQ) and returns the answer's frames. */
export async function command(jar: SocketJar, control: string, cmd: string | Buffer | (string | Buffer)[]): Promise<Buffer[]> {
  const req = jar.add(new Request());
  req.connect(control);
  await req.send(cmd);
  const answer = await withDeadline(req.receive(), WAIT_MS, `the answer to ${String(cmd)}`);
  req.close();
  return answer;
}
