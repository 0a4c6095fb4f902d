// Every MUST of RFC 7/MDP 0.1 and RFC 8/MMI as a test (and the SHOULDs we implement), with raw
// peers written here from the RFC's frames against our broker, and our worker and clients against
// a raw ROUTER standing in for a broker.
import { ANY_LOOPBACK_TCP, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Request } from "zeromq";
import { MdpAsyncClient } from "../internal/async-client.ts";
import { MdpClient, MdpServiceError } from "../internal/client.ts";
import { type BrokerConfig, MajordomoBroker } from "../internal/majordomo-broker.ts";
import { DISCONNECT, HEARTBEAT, READY, REPLY, REQUEST } from "../internal/mdp.ts";
import { MdpWorker } from "../internal/worker.ts";
import { any, DEADLINE_MS, isCommand, RawDealer, RawRouter, text } from "./peers.ts";

const log = testLogger("lab12");
const HB = 100;
const tasks = new Tasks();
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await tasks.stopAll();
});

/** Liveness 50 (5 s) unless a test is about a silent worker: a raw worker that never heartbeats must
 * stay registered through a test's steps even when this process stalls (timers run before the socket
 * is read, and 300 ms of silence would expire it). */
const PATIENT = 50;
const BRISK = 3;

async function startBroker(over: Partial<BrokerConfig> = {}) {
  const broker = new MajordomoBroker(
    { endpoint: ANY_LOOPBACK_TCP, heartbeatMs: HB, liveness: PATIENT, requestExpiryMs: 10_000, maxWaiting: 1000, ...over },
    log,
  );
  await broker.bind();
  void tasks.run((s) => broker.run(s));
  return { broker, endpoint: broker.endpoints.endpoint };
}

function dealer(endpoint: string, routingId?: string) {
  const d = new RawDealer(endpoint, routingId);
  closers.push(() => d.close());
  return d;
}

async function router() {
  const r = await new RawRouter().bind();
  closers.push(() => r.close());
  return r;
}

/** A raw worker, registered: READY sent and seen by the broker; `beat`: it heartbeats (a control worker). */
async function rawWorker(broker: MajordomoBroker, endpoint: string, service: string, beat = false) {
  const before = broker.workerCount(service);
  const w = dealer(endpoint);
  await w.send(["", "MDPW01", [READY], service]);
  if (beat) {
    const timer = setInterval(() => void w.send(["", "MDPW01", [HEARTBEAT]]).catch(() => {}), HB / 2);
    closers.unshift(() => clearInterval(timer));
  }
  await waitUntil(() => broker.workerCount(service) > before, { timeoutMs: DEADLINE_MS, what: `worker of ${service} registered` });
  return w;
}

function syncClient(endpoint: string, timeoutMs = 5000, retries = 1) {
  const c = new MdpClient({ broker: endpoint, timeoutMs, retries }, log);
  closers.push(() => c.close());
  return c;
}

/** No message reached `peer` from index `from` on, while `control` (a live worker) got three more heartbeats. */
async function staysSilent(peer: RawDealer, from: number, control: RawDealer) {
  await control.count(isCommand(HEARTBEAT), 3, "heartbeats to the control worker", DEADLINE_MS, control.received.length);
  expect(peer.received.slice(from).map(text)).toEqual([]);
}

describe("RFC 7 MDP/Client", () => {
  it("a REQ client (frame 0 made by REQ) gets REPLY [MDPC01, service, body...] exactly", async () => {
    const { broker, endpoint } = await startBroker();
    const w = await rawWorker(broker, endpoint, "echo");
    const req = new Request({ linger: 0 });
    closers.push(() => req.close());
    req.connect(endpoint);
    await req.send(["MDPC01", "echo", "a", "b"]);
    // The broker's REQUEST to the worker: precisely one client address frame, then an empty frame.
    const { frames } = await w.next(isCommand(REQUEST), "the REQUEST at the worker");
    expect(frames).toHaveLength(7);
    expect(text(frames.slice(0, 3))).toEqual(["", "MDPW01", "\x02"]);
    expect(frames[3]?.length).toBeGreaterThan(0);
    expect(text(frames.slice(4))).toEqual(["", "a", "b"]);
    await w.send(["", "MDPW01", [REPLY], frames[3] as Buffer, "", "A", "B"]);
    expect(text(await withDeadline(req.receive(), DEADLINE_MS, "the reply"))).toEqual(["MDPC01", "echo", "A", "B"]);
  });

  it("our DEALER clients create the empty frame 0 explicitly (the async one after its tag)", async () => {
    const r = await router();
    const c = new MdpClient({ broker: r.endpoint, timeoutMs: 5000, retries: 1 }, log);
    const a = new MdpAsyncClient({ broker: r.endpoint, timeoutMs: 5000 }, log);
    closers.push(
      () => c.close(),
      () => a.close(),
    );
    const syncReply = c.request("svc", [Buffer.from("x")]);
    const { frames: s } = await r.next(any, "the sync client's REQUEST");
    expect(text(s.slice(1))).toEqual(["", "MDPC01", "svc", "x"]);
    await r.send([s[0] as Buffer, "", "MDPC01", "svc", "y"]);
    expect(text(await syncReply)).toEqual(["y"]);

    const asyncReply = a.request("svc", [Buffer.from("x")]);
    const { frames: t } = await r.next((f) => f.length === 6, "the async client's REQUEST");
    expect(t[1]).toHaveLength(4);
    expect(text(t.slice(2))).toEqual(["", "MDPC01", "svc", "x"]);
    await r.send([t[0] as Buffer, t[1] as Buffer, "", "MDPC01", "svc", "z"]);
    expect(text(await asyncReply)).toEqual(["z"]);
  });

  it("the client drops a reply for another service and keeps waiting for its own", async () => {
    const r = await router();
    const c = new MdpClient({ broker: r.endpoint, timeoutMs: 5000, retries: 1 }, log);
    closers.push(() => c.close());
    const reply = c.request("svc", [Buffer.from("x")]);
    const { frames } = await r.next(any, "the REQUEST");
    await r.send([frames[0] as Buffer, "", "MDPC01", "other", "wrong"]);
    await r.send([frames[0] as Buffer, "", "MDPC02", "svc", "wrong"]);
    await r.send([frames[0] as Buffer, "", "MDPC01", "svc", "right"]);
    expect(text(await reply)).toEqual(["right"]);
    expect(c.stats.dropped).toBe(2);
  });

  it("SHOULD queue a request for a service with no worker: served when a worker registers", async () => {
    const { broker, endpoint } = await startBroker();
    const reply = syncClient(endpoint).request("late", [Buffer.from("q")]);
    await waitUntil(() => broker.waiting === 1, { timeoutMs: DEADLINE_MS, what: "the request queued" });
    const w = await rawWorker(broker, endpoint, "late");
    const { frames } = await w.next(isCommand(REQUEST), "the queued REQUEST");
    await w.send(["", "MDPW01", [REPLY], frames[3] as Buffer, "", "served"]);
    expect(text(await reply)).toEqual(["served"]);
  });

  it("SHOULD expire it after a configurable time: the 504 error reply, told apart from a service reply", async () => {
    const { broker, endpoint } = await startBroker({ requestExpiryMs: 200 });
    const req = new Request({ linger: 0 });
    closers.push(() => req.close());
    req.connect(endpoint);
    await req.send(["MDPC01", "nobody", "q"]);
    const [header, service, marker, code, reason] = text(await withDeadline(req.receive(), DEADLINE_MS, "the error reply"));
    expect([header, service, marker, code]).toEqual(["MDPC01", "nobody", "mmi.error", "504"]);
    expect(reason).toMatch(/no worker .* within 200 ms/);
    const err = await syncClient(endpoint)
      .request("nobody", [Buffer.from("q")])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MdpServiceError);
    expect(err).toMatchObject({ code: "504", expired: true });
    expect(broker.counts.expired).toBe(2);
  });
});

describe("RFC 7 MDP/Worker at the broker", () => {
  it("MUST use one ROUTER for clients and workers; LRU worker first, one request at a time", async () => {
    const { broker, endpoint } = await startBroker();
    const w1 = await rawWorker(broker, endpoint, "echo");
    const w2 = await rawWorker(broker, endpoint, "echo");
    const a = new MdpAsyncClient({ broker: endpoint, timeoutMs: 5000 }, log);
    closers.push(() => a.close());
    const replies = [1, 2, 3].map((n) => a.request("echo", [Buffer.from(`r${n}`)]));
    const first = await w1.next(isCommand(REQUEST), "w1's request");
    const second = await w2.next(isCommand(REQUEST), "w2's request");
    expect(text([first.frames[5] as Buffer, second.frames[5] as Buffer])).toEqual(["r1", "r2"]);
    // The third waits until a worker is free: w2 answers first and gets it.
    await w2.send(["", "MDPW01", [REPLY], second.frames[3] as Buffer, "", "R2"]);
    const third = await w2.next(isCommand(REQUEST), "the third request, at the worker free first", DEADLINE_MS, second.index + 1);
    expect(third.frames[5]?.toString()).toBe("r3");
    expect(w1.received.filter(isCommand(REQUEST))).toHaveLength(1);
    await w1.send(["", "MDPW01", [REPLY], first.frames[3] as Buffer, "", "R1"]);
    await w2.send(["", "MDPW01", [REPLY], third.frames[3] as Buffer, "", "R3"]);
    expect((await Promise.all(replies)).map(text)).toEqual([["R1"], ["R2"], ["R3"]]);
  });

  it('MUST send HEARTBEAT ["", MDPW01, 0x04] at regular intervals', async () => {
    const { broker, endpoint } = await startBroker();
    const w = await rawWorker(broker, endpoint, "hb", true);
    await w.count(isCommand(HEARTBEAT), 3, "three heartbeats");
    expect(w.received.filter(isCommand(HEARTBEAT)).every((f) => f.length === 3)).toBe(true);
  });

  it("MUST consider a worker silent for liveness intervals disconnected, and send it nothing more", async () => {
    const { broker, endpoint } = await startBroker({ liveness: BRISK });
    const control = await rawWorker(broker, endpoint, "control", true);
    const w = await rawWorker(broker, endpoint, "quiet");
    // control keeps talking; quiet says nothing after READY.
    await waitUntil(() => broker.workerCount("quiet") === 0, { timeoutMs: DEADLINE_MS, what: "the silent worker removed" });
    expect(broker.workerCount("control")).toBe(1);
    expect(broker.counts.workersExpired).toBe(1);
    await control.count(isCommand(HEARTBEAT), 2, "heartbeats to the control worker", DEADLINE_MS, control.received.length);
    await staysSilent(w, w.received.length, control);
  });

  it("after a worker's DISCONNECT the broker MUST send it no further commands (nor requests)", async () => {
    const { broker, endpoint } = await startBroker({ requestExpiryMs: 300 });
    const control = await rawWorker(broker, endpoint, "control", true);
    const w = await rawWorker(broker, endpoint, "leaving");
    await w.send(["", "MDPW01", [DISCONNECT]]);
    await waitUntil(() => broker.workerCount("leaving") === 0, { timeoutMs: DEADLINE_MS, what: "the worker removed" });
    const err = await syncClient(endpoint)
      .request("leaving", [Buffer.from("x")])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "504" });
    await staysSilent(w, w.received.length, control);
    expect(w.received.filter(isCommand(DISCONNECT))).toEqual([]);
    expect(broker.counts.violations).toBe(0);
  });

  // Each: how a worker breaks MDP/Worker, whether it says READY first, what the broker logs.
  const violations: [string, (string | number[])[][], boolean][] = [
    ["second READY", [["", "MDPW01", [READY], "v"]], true],
    ["REPLY from a worker that never sent READY", [["", "MDPW01", [REPLY], "client", "", "body"]], false],
    ["HEARTBEAT from a worker that never sent READY", [["", "MDPW01", [HEARTBEAT]]], false],
    ["REPLY while no request is in progress", [["", "MDPW01", [REPLY], "client", "", "body"]], true],
    ["REQUEST from a worker", [["", "MDPW01", [REQUEST], "client", "", "body"]], true],
    ["unknown command", [["", "MDPW01", [0x09]]], true],
    ["unknown command", [["", "MDPW01", "READY", "v"]], false],
    ["wrong frame count", [["", "MDPW01", [HEARTBEAT], "extra"]], true],
    ["wrong frame count", [["", "MDPW01", [READY]]], false],
    ["wrong frame count", [["", "MDPW01", [REPLY], "client"]], true],
    ["wrong frame count", [["", "MDPW01", [DISCONNECT], "extra"]], true],
    ["READY for an mmi.* service", [["", "MDPW01", [READY], "mmi.echo"]], false],
    ["READY with a bad service name", [["", "MDPW01", [READY], "bad\nname"]], false],
  ];
  it.each(violations)(
    "MUST answer a violation with DISCONNECT, log and count it, then send nothing more: %s",
    async (reason, messages, readyFirst) => {
      const { broker, endpoint } = await startBroker();
      const control = await rawWorker(broker, endpoint, "control", true);
      const w = readyFirst ? await rawWorker(broker, endpoint, "v") : dealer(endpoint);
      for (const m of messages) await w.send(m);
      const { index } = await w.next(isCommand(DISCONNECT), `DISCONNECT for ${reason}`);
      expect(w.received[index]).toHaveLength(3);
      expect(broker.counts.violations).toBe(1);
      expect(broker.workerCount("v")).toBe(0);
      // It keeps talking (as a worker does with heartbeats it queued): nothing more is sent to it, not even DISCONNECT.
      await w.send(["", "MDPW01", [HEARTBEAT]]);
      await waitUntil(() => broker.counts.afterDisconnect === 1, { timeoutMs: DEADLINE_MS, what: "the heartbeat dropped" });
      await staysSilent(w, index + 1, control);
      expect(broker.counts.violations).toBe(1);
    },
  );

  it("a READY after the broker's DISCONNECT registers afresh (a worker on the same identity)", async () => {
    const { broker, endpoint } = await startBroker();
    const w = dealer(endpoint, "fixed-id");
    await w.send(["", "MDPW01", [HEARTBEAT]]);
    await w.next(isCommand(DISCONNECT), "DISCONNECT");
    await w.send(["", "MDPW01", [READY], "again"]);
    await waitUntil(() => broker.workerCount("again") === 1, { timeoutMs: DEADLINE_MS, what: "registered again" });
  });

  it("a REPLY for another client than the request's is a violation; the request goes to another worker", async () => {
    const { broker, endpoint } = await startBroker();
    const w1 = await rawWorker(broker, endpoint, "echo");
    const reply = syncClient(endpoint).request("echo", [Buffer.from("x")]);
    await w1.next(isCommand(REQUEST), "the request");
    await w1.send(["", "MDPW01", [REPLY], "someone-else", "", "x"]);
    await w1.next(isCommand(DISCONNECT), "DISCONNECT");
    const w2 = await rawWorker(broker, endpoint, "echo");
    const { frames } = await w2.next(isCommand(REQUEST), "the request, sent again");
    await w2.send(["", "MDPW01", [REPLY], frames[3] as Buffer, "", "ok"]);
    expect(text(await reply)).toEqual(["ok"]);
    expect(broker.counts.redispatched).toBe(1);
  });

  it("a worker REPLY posing as the broker's error reply is a violation", async () => {
    const { broker, endpoint } = await startBroker();
    const w = await rawWorker(broker, endpoint, "echo");
    void syncClient(endpoint)
      .request("echo", [Buffer.from("x")])
      .catch(() => {});
    const { frames } = await w.next(isCommand(REQUEST), "the request");
    await w.send(["", "MDPW01", [REPLY], frames[3] as Buffer, "", "mmi.error", "504", "fake"]);
    await w.next(isCommand(DISCONNECT), "DISCONNECT");
    expect(broker.counts.violations).toBe(1);
  });

  it("a message that is neither MDPC01 nor MDPW01 is dropped and counted, with no DISCONNECT", async () => {
    const { broker, endpoint } = await startBroker();
    const control = await rawWorker(broker, endpoint, "control", true);
    const w = dealer(endpoint);
    await w.send(["", "MDPW02", [READY], "x"]);
    await w.send(["garbage"]);
    await waitUntil(() => broker.counts.dropped === 2, { timeoutMs: DEADLINE_MS, what: "two drops" });
    await staysSilent(w, 0, control);
    expect(broker.counts.violations).toBe(0);
  });

  it("a request in progress on a worker that dies goes to another worker, at most once more", async () => {
    const { broker, endpoint } = await startBroker({ liveness: BRISK });
    const first = await rawWorker(broker, endpoint, "echo");
    const reply = syncClient(endpoint).request("echo", [Buffer.from("once")]);
    await first.next(isCommand(REQUEST), "the request at the first worker");
    first.close(); // dies without a word: the broker finds out by heartbeat
    const second = await rawWorker(broker, endpoint, "echo");
    const { frames } = await second.next(isCommand(REQUEST), "the request, sent again");
    expect(frames[5]?.toString()).toBe("once");
    second.close(); // the second worker dies too: no third try
    const err = await reply.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MdpServiceError);
    expect(err).toMatchObject({ code: "503" });
    expect(broker.counts).toMatchObject({ redispatched: 1, failed: 1 });
  });
});

describe("RFC 7 MDP/Worker at the worker (ours, against a raw ROUTER)", () => {
  function startWorker(endpoint: string, handle: (b: Buffer[]) => Promise<Buffer[]> = async (b) => b, heartbeatMs = HB, liveness = 3) {
    const worker = new MdpWorker({ broker: endpoint, service: "svc", heartbeatMs, liveness, reconnectMs: 50 }, log);
    void tasks.run((s) => worker.run(s, handle));
    return worker;
  }
  const from = (id: Buffer) => (f: Buffer[]) => f[0]?.equals(id) === true;

  it("opens with READY on one DEALER, sends no further READY, heartbeats regularly, one REPLY per REQUEST", async () => {
    const r = await router();
    // Liveness 50 (5 s): a loaded machine that delays the stand-in's heartbeats must not make it reconnect.
    startWorker(r.endpoint, undefined, HB, 50);
    const { frames: ready } = await r.next(isCommand(READY, 1), "READY");
    expect(text(ready.slice(1))).toEqual(["", "MDPW01", "\x01", "svc"]);
    const id = ready[0] as Buffer;
    // The stand-in broker heartbeats, so the worker stays.
    const beat = setInterval(() => void r.send([id, "", "MDPW01", [HEARTBEAT]]), HB);
    closers.push(() => clearInterval(beat));
    await r.count((f) => from(id)(f) && isCommand(HEARTBEAT, 1)(f), 3, "the worker's heartbeats");
    await r.send([id, "", "MDPW01", [REQUEST], "client-1", "", "a", "b"]);
    const { frames: reply } = await r.next(isCommand(REPLY, 1), "the REPLY");
    expect(text(reply)).toEqual([id.toString(), "", "MDPW01", "\x03", "client-1", "", "a", "b"]);
    expect(r.received.filter(isCommand(READY, 1))).toHaveLength(1);
  });

  it("on DISCONNECT it sends nothing more on that socket, and registers again at once on a new one", async () => {
    const r = await router();
    startWorker(r.endpoint, async (b) => b, 60_000);
    const { frames: ready } = await r.next(isCommand(READY, 1), "READY");
    const id = ready[0] as Buffer;
    await r.send([id, "", "MDPW01", [DISCONNECT]]);
    const again = await r.next((f) => isCommand(READY, 1)(f) && !from(id)(f), "READY from a new socket", DEADLINE_MS);
    // Heartbeats every 60 s and liveness 3: this READY came from the DISCONNECT, not from silence.
    expect(r.received.slice(again.index).filter(from(id))).toEqual([]);
    expect(r.received.filter(from(id)).map((f) => text(f.slice(1)))).toEqual([["", "MDPW01", "\x01", "svc"]]);
  });

  it("MUST consider a silent broker disconnected: a new socket and READY after liveness intervals", async () => {
    const r = await router();
    const worker = startWorker(r.endpoint);
    const { frames: ready } = await r.next(isCommand(READY, 1), "READY");
    await r.next((f) => isCommand(READY, 1)(f) && !f[0]?.equals(ready[0] as Buffer), "READY after the broker's silence", DEADLINE_MS);
    expect(worker.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("a handler that throws: DISCONNECT, then READY again (the broker re-sends the request elsewhere)", async () => {
    const r = await router();
    const worker = startWorker(r.endpoint, async () => {
      throw new Error("boom");
    });
    const { frames: ready } = await r.next(isCommand(READY, 1), "READY");
    await r.send([ready[0] as Buffer, "", "MDPW01", [REQUEST], "c", "", "x"]);
    await r.next((f) => isCommand(DISCONNECT, 1)(f) && f[0]?.equals(ready[0] as Buffer) === true, "DISCONNECT");
    await r.next((f) => isCommand(READY, 1)(f) && !f[0]?.equals(ready[0] as Buffer), "READY again");
    expect(worker.stats.failed).toBe(1);
  });
});

describe("RFC 8 MMI", () => {
  const ask = async (endpoint: string, service: string, body: string) =>
    text(await syncClient(endpoint).request(service, [Buffer.from(body)]));

  it("mmi.service answers 200 while a worker is registered for the service, 404 otherwise (also after it left)", async () => {
    const { broker, endpoint } = await startBroker();
    expect(await ask(endpoint, "mmi.service", "echo")).toEqual(["404"]);
    const w = await rawWorker(broker, endpoint, "echo");
    expect(await ask(endpoint, "mmi.service", "echo")).toEqual(["200"]);
    await w.send(["", "MDPW01", [DISCONNECT]]);
    await waitUntil(() => broker.workerCount("echo") === 0, { timeoutMs: DEADLINE_MS, what: "the worker gone" });
    expect(await ask(endpoint, "mmi.service", "echo")).toEqual(["404"]);
  });

  it("any other mmi.* service answers 501, handled by the broker itself", async () => {
    const { broker, endpoint } = await startBroker();
    expect(await ask(endpoint, "mmi.echo", "x")).toEqual(["501"]);
    expect(await ask(endpoint, "mmi.", "x")).toEqual(["501"]);
    expect(broker.counts.mmi).toBe(2);
    expect(broker.waiting).toBe(0);
  });

  it("MUST disconnect a worker that registers an mmi.* service (and answers 404 for it)", async () => {
    const { broker, endpoint } = await startBroker();
    const w = dealer(endpoint);
    await w.send(["", "MDPW01", [READY], "mmi.service"]);
    await w.next(isCommand(DISCONNECT), "DISCONNECT");
    expect(await ask(endpoint, "mmi.service", "mmi.service")).toEqual(["404"]);
    expect(broker.workerCount()).toBe(0);
  });
});
