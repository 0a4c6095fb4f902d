// The broker, worker and both clients in-process over real sockets.
import { ANY_LOOPBACK_TCP, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MdpAsyncClient } from "../internal/async-client.ts";
import { MdpAborted, MdpClient, MdpServiceError, MdpTimeout } from "../internal/client.ts";
import { MajordomoBroker } from "../internal/majordomo-broker.ts";
import { MdpWorker } from "../internal/worker.ts";
import { DEADLINE_MS } from "./peers.ts";

const log = testLogger("lab12");
const tasks = new Tasks();
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await tasks.stopAll();
});

const HB = 100;

async function startBroker(over: Partial<ConstructorParameters<typeof MajordomoBroker>[0]> = {}) {
  const broker = new MajordomoBroker(
    { endpoint: ANY_LOOPBACK_TCP, heartbeatMs: HB, liveness: 3, requestExpiryMs: 5000, maxWaiting: 1000, ...over },
    log,
  );
  await broker.bind();
  void tasks.run((s) => broker.run(s));
  return broker;
}

function startWorker(endpoint: string, service: string, handle: (body: Buffer[]) => Promise<Buffer[]>) {
  const worker = new MdpWorker({ broker: endpoint, service, heartbeatMs: HB, liveness: 3, reconnectMs: 100 }, log);
  void tasks.run((s) => worker.run(s, handle));
  return worker;
}

function client(endpoint: string, timeoutMs = 2000, retries = 2) {
  const c = new MdpClient({ broker: endpoint, timeoutMs, retries }, log);
  closers.push(() => c.close());
  return c;
}

const text = (frames: Buffer[]) => frames.map((f) => f.toString());

describe("broker, worker and clients in-process", () => {
  it("routes a request by service name and returns the reply", async () => {
    const broker = await startBroker();
    startWorker(broker.endpoints.endpoint, "echo", async (body) => body);
    startWorker(broker.endpoints.endpoint, "upper", async (body) => body.map((b) => Buffer.from(b.toString().toUpperCase())));
    await waitUntil(() => broker.workerCount() === 2, { timeoutMs: DEADLINE_MS, what: "two workers" });
    const c = client(broker.endpoints.endpoint);
    expect(text(await c.request("echo", [Buffer.from("a"), Buffer.from("b")]))).toEqual(["a", "b"]);
    expect(text(await c.request("upper", [Buffer.from("x")]))).toEqual(["X"]);
  });

  it("the async client matches many replies in flight to their requests", async () => {
    const broker = await startBroker();
    for (let i = 0; i < 3; i++)
      startWorker(broker.endpoints.endpoint, "echo", async (body) => {
        await new Promise((r) => setTimeout(r, Math.random() * 10));
        return body;
      });
    await waitUntil(() => broker.workerCount() === 3, { timeoutMs: DEADLINE_MS, what: "three workers" });
    const c = new MdpAsyncClient({ broker: broker.endpoints.endpoint, timeoutMs: 5000 }, log);
    closers.push(() => c.close());
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => c.request("echo", [Buffer.from(`n${i}`)])));
    expect(replies.map((r) => r[0]?.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `n${i}`));
  });

  it("a request for a service with no worker expires with the 504 error reply", async () => {
    const broker = await startBroker({ requestExpiryMs: 200 });
    const err = await client(broker.endpoints.endpoint, 3000, 1)
      .request("nobody", [Buffer.from("x")])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MdpServiceError);
    expect((err as MdpServiceError).code).toBe("504");
    expect(broker.counts.expired).toBe(1);
  });

  it("the sync client gives up with MdpTimeout after its retries", async () => {
    const broker = await startBroker({ requestExpiryMs: 60_000 });
    const c = client(broker.endpoints.endpoint, 100, 3);
    await expect(c.request("nobody", [Buffer.from("x")])).rejects.toBeInstanceOf(MdpTimeout);
    expect(c.stats.retries).toBe(2);
  });

  it("the sync client takes calls made meanwhile in turn, one request at a time", async () => {
    const broker = await startBroker();
    let inside = 0;
    let most = 0;
    const handle = async (body: Buffer[]) => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 5));
      inside -= 1;
      return body;
    };
    startWorker(broker.endpoints.endpoint, "echo", handle);
    startWorker(broker.endpoints.endpoint, "echo", handle);
    await waitUntil(() => broker.workerCount() === 2, { timeoutMs: DEADLINE_MS, what: "two workers" });
    const c = client(broker.endpoints.endpoint);
    const replies = await Promise.all([1, 2, 3, 4].map((n) => c.request("echo", [Buffer.from(`${n}`)])));
    expect(replies.map(text)).toEqual([["1"], ["2"], ["3"], ["4"]]);
    expect(broker.counts.requests).toBe(4);
    // Two idle workers, yet never two requests at once: the client sent each after the last reply.
    expect(most).toBe(1);
  });

  it("a request cancelled through its signal fails with MdpAborted; closing the async client fails those in flight", async () => {
    const broker = await startBroker();
    const c = client(broker.endpoints.endpoint, 5000, 3);
    const controller = new AbortController();
    const pending = c.request("nobody", [Buffer.from("x")], controller.signal);
    await waitUntil(() => broker.waiting === 1, { timeoutMs: DEADLINE_MS, what: "the request queued" });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(MdpAborted);
    const a = new MdpAsyncClient({ broker: broker.endpoints.endpoint, timeoutMs: 5000 }, log);
    const inFlight = [a.request("nobody", [Buffer.from("y")]), a.request("nobody", [Buffer.from("z")])];
    await waitUntil(() => broker.waiting === 3, { timeoutMs: DEADLINE_MS, what: "both queued" });
    a.close();
    for (const p of inFlight) await expect(p).rejects.toBeInstanceOf(MdpAborted);
    expect(a.inFlight).toBe(0);
  });

  it("beyond --max-waiting a request gets the 503 error reply at once", async () => {
    const broker = await startBroker({ maxWaiting: 2 });
    const a = new MdpAsyncClient({ broker: broker.endpoints.endpoint, timeoutMs: 5000 }, log);
    closers.push(() => a.close());
    const waiting = [a.request("nobody", [Buffer.from("1")]), a.request("nobody", [Buffer.from("2")])];
    for (const p of waiting) p.catch(() => {});
    await waitUntil(() => broker.waiting === 2, { timeoutMs: DEADLINE_MS, what: "two queued" });
    const err = await a.request("nobody", [Buffer.from("3")]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "503", expired: false });
    expect(err).toBeInstanceOf(MdpServiceError);
  });

  it("beyond the waiting bytes bound too", async () => {
    const broker = await startBroker({ maxWaitingBytes: 100 });
    const a = new MdpAsyncClient({ broker: broker.endpoints.endpoint, timeoutMs: 5000 }, log);
    closers.push(() => a.close());
    a.request("nobody", [Buffer.alloc(60)]).catch(() => {});
    await waitUntil(() => broker.waiting === 1, { timeoutMs: DEADLINE_MS, what: "one queued" });
    const err = await a.request("nobody", [Buffer.alloc(60)]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "503", reason: expect.stringMatching(/full \(1 requests, 60 bytes waiting\)/) });
  });

  it("the async client drops a late reply whose request already timed out", async () => {
    const broker = await startBroker();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    startWorker(broker.endpoints.endpoint, "slow", async (body) => {
      await held;
      return body;
    });
    await waitUntil(() => broker.workerCount("slow") === 1, { timeoutMs: DEADLINE_MS, what: "the worker" });
    const a = new MdpAsyncClient({ broker: broker.endpoints.endpoint, timeoutMs: 100 }, log);
    closers.push(() => a.close());
    await expect(a.request("slow", [Buffer.from("x")])).rejects.toBeInstanceOf(MdpTimeout);
    release();
    await waitUntil(() => a.stats.dropped === 1, { timeoutMs: DEADLINE_MS, what: "the late reply dropped" });
    expect(a.stats).toMatchObject({ requests: 1, replies: 0, timeouts: 1 });
  });
});
