import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Router } from "zeromq";
import {
  brokerCommand,
  brokerRequest,
  clientReply,
  DISCONNECT,
  ERROR_EXPIRED,
  ERROR_FAILED,
  errorBody,
  type FromPeer,
  fromPeer,
  HEARTBEAT,
  isMmi,
  MAX_SERVICES,
  MAX_WAITING_BYTES,
  MMI_FOUND,
  MMI_NOT_FOUND,
  MMI_NOT_IMPLEMENTED,
  MMI_SERVICE,
  type Violation,
} from "./mdp.ts";
import { type BrokerSnapshot, brokerView, VIEW_MS } from "./view.ts";

// The broker's flags and their mapper live in config.ts; exported here too, so another lab's cmd
// file can run this broker with runRole from one import (lab13 does).
export { brokerConfig, brokerOptions } from "./config.ts";

export interface BrokerConfig {
  /** The one ROUTER endpoint for clients and workers (RFC 7 allows one socket for both sub-protocols). */
  endpoint: string;
  /** Heartbeat interval, ms: the broker sends HEARTBEAT to every worker this often. */
  heartbeatMs: number;
  /** A worker silent for liveness × heartbeatMs is dead: removed, its request sent to another worker. */
  liveness: number;
  /** A request waiting this long for a worker of its service is answered with the "504" error reply. */
  requestExpiryMs: number;
  /** The most requests waiting for workers, over all services; beyond it a request gets "503" at once. */
  maxWaiting: number;
  /** The most bytes of request bodies waiting, over all services (a request is up to 64 frames of 1 MiB); beyond it "503". */
  maxWaitingBytes?: number;
  /** The largest frame the ROUTER takes; the kit's 1 MiB by default. */
  maxMessageBytes?: number;
}

export interface BrokerOptions {
  /** Where the live view goes (the kit's publishView), every VIEW_MS; none in the tests. */
  publish?: (view: View) => void;
  /** The clock (monotonic ms). */
  now?: () => number;
}

/** A client's request, from the moment the broker reads it until it answers it. */
interface Request {
  /** The ROUTER identity of the client and any routing frames it sent before the empty frame. */
  envelope: Buffer[];
  service: string;
  body: Buffer[];
  /** Monotonic ms it was queued (again, after a re-dispatch). */
  since: number;
  /** Workers it has been sent to: at most 2 (the first, and one more if that one died). */
  dispatches: number;
  /** Its body's size, counted against maxWaitingBytes while it waits. */
  bytes: number;
}

interface Worker {
  identity: Buffer;
  key: string;
  service: Service;
  /** Monotonic ms of the last command from it: any command counts as a heartbeat (RFC 7). */
  lastHeard: number;
  /** The request it works on, if any: sent again elsewhere if it dies. */
  current: Request | undefined;
  served: number;
}

interface Service {
  name: string;
  /** The name as a frame, for every reply (made once). */
  frame: Buffer;
  /** Requests waiting for a worker, oldest first. */
  requests: Request[];
  /** Idle workers, the one idle longest first (a Map keeps insertion order: LRU). */
  idle: Map<string, Worker>;
  workers: Set<Worker>;
  served: number;
  expired: number;
}

/** Identities remembered as sent DISCONNECT, at most. */
const MAX_DISCONNECTED = 10_000;

const sizeOf = (body: readonly Buffer[]) => body.reduce((n, f) => n + f.length, 0);

/** Most requests sent to two workers; a third death of its worker fails it (RFC 7: workers must be idempotent). */
const MAX_DISPATCHES = 2;

/**
 * The Majordomo broker (RFC 7/MDP 0.1 with RFC 8/MMI): one ROUTER for clients (MDPC01) and
 * workers (MDPW01). Requests queue per service; each goes to the worker of its service idle longest,
 * one request per worker at a time. Heartbeats both ways; a worker silent for liveness intervals
 * is removed. Beyond the Guide's broker:
 *  - a request in progress on a worker that dies (silence, DISCONNECT, a protocol violation, an
 *    unreachable connection) goes back to the front of its queue, for one more worker;
 *  - a request waiting `requestExpiryMs` for a worker gets the "504" error reply;
 *  - every protocol violation gets DISCONNECT, a log line and a count; garbage is dropped and counted;
 *  - a worker the broker does not know (the broker restarted) gets DISCONNECT on its first
 *    HEARTBEAT or REPLY, and registers again at once.
 */
export class MajordomoBroker {
  // mandatory: a message to a peer that has gone fails (EHOSTUNREACH) instead of vanishing;
  // send timeout 0: a send never waits, so sends from the loop and the timers never overlap.
  private readonly socket: Router;
  private readonly services = new Map<string, Service>();
  private readonly workers = new Map<string, Worker>();
  /**
   * Workers sent DISCONNECT lately (identity → when), in that order: RFC 7 says nothing more goes
   * to them, so what they had queued meanwhile (a restarted broker gets every HEARTBEAT a worker
   * sent while it was down) is dropped quietly, not answered again. A READY starts afresh.
   */
  private readonly disconnected = new Map<string, number>();
  private waitingTotal = 0;
  private waitingBytes = 0;
  readonly endpoints = { endpoint: "" };
  readonly counts = {
    requests: 0,
    replies: 0,
    mmi: 0,
    /** Requests answered "504": no worker took them in time. */
    expired: 0,
    /** Requests sent to a second worker after the first died with them. */
    redispatched: 0,
    /** Requests answered "503": both workers died, or the broker was full. */
    failed: 0,
    /** DISCONNECTs sent for protocol violations. */
    violations: 0,
    /** Messages that are neither MDPC01 nor MDPW01, or malformed client requests: dropped. */
    dropped: 0,
    /** Messages from a worker after the broker sent it DISCONNECT (what it had queued meanwhile): dropped, not answered. */
    afterDisconnect: 0,
    /** Replies whose client had gone. */
    undeliverable: 0,
    workersExpired: 0,
  };
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private readonly now: () => number;
  private readonly maxWaitingBytes: number;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
    private readonly options: BrokerOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.maxWaitingBytes = config.maxWaitingBytes ?? MAX_WAITING_BYTES;
    this.socket = new Router({ linger: 0, mandatory: true, sendTimeout: 0, ...peerLimits(config.maxMessageBytes) });
  }

  async bind(): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { endpoint: [this.socket, this.config.endpoint] }));
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.endpoint) await this.bind();
    const { heartbeatMs, requestExpiryMs } = this.config;
    const publish = this.options.publish;
    this.log.info(
      { heartbeatMs, liveness: this.config.liveness, requestExpiryMs, maxWaiting: this.config.maxWaiting },
      "majordomo broker ready (MDP/0.1 + MMI)",
    );
    await runLoops(
      signal,
      {
        sockets: [this.socket],
        every: [
          { ms: heartbeatMs, run: () => this.heartbeat() },
          { ms: Math.max(10, Math.min(heartbeatMs, requestExpiryMs / 4)), run: () => this.expireRequests() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(brokerView(this.snapshot())) }] : []),
        ],
        log: this.log,
      },
      () =>
        receiveLoop(this.socket, signal, (frames) => this.onMessage(fromPeer(frames)), { log: this.log, name: "broker", stats: this.loop }),
    );
  }

  /** One message from the ROUTER: the whole protocol, as a switch. */
  onMessage(msg: FromPeer): void {
    if (this.disconnected.size > 0 && msg.kind !== "request" && msg.kind !== "invalid") {
      const key = msg.worker.toString("latin1");
      if (this.disconnected.has(key)) {
        if (msg.kind !== "ready") {
          this.counts.afterDisconnect += 1;
          this.log.debug(
            { worker: msg.worker, kind: msg.kind, afterDisconnect: this.counts.afterDisconnect },
            "message after DISCONNECT dropped",
          );
          return;
        }
        this.disconnected.delete(key);
      }
    }
    switch (msg.kind) {
      case "request":
        this.counts.requests += 1;
        if (isMmi(msg.service)) this.serveMmi(msg.envelope, msg.service, msg.body);
        else
          this.enqueue({
            envelope: msg.envelope,
            service: msg.service,
            body: msg.body,
            since: this.now(),
            dispatches: 0,
            bytes: sizeOf(msg.body),
          });
        return;
      case "ready":
        if (this.workers.has(msg.worker.toString("latin1"))) this.violation(msg.worker, "second READY");
        else this.register(msg.worker, msg.service);
        return;
      case "reply":
        this.onReply(msg.worker, msg.client, msg.body);
        return;
      case "heartbeat": {
        const worker = this.workers.get(msg.worker.toString("latin1"));
        if (worker) worker.lastHeard = this.now();
        else this.violation(msg.worker, "HEARTBEAT from a worker that never sent READY");
        return;
      }
      case "disconnect": {
        // RFC 7: after a worker's DISCONNECT the broker sends it nothing more.
        const worker = this.workers.get(msg.worker.toString("latin1"));
        if (worker) this.removeWorker(worker, "sent DISCONNECT");
        return;
      }
      case "violation":
        this.violation(msg.worker, msg.reason, msg.detail);
        return;
      case "invalid":
        this.counts.dropped += 1;
        this.log.warn({ peer: msg.peer, reason: msg.reason, dropped: this.counts.dropped }, "invalid message dropped");
        return;
    }
  }

  // --- clients -------------------------------------------------------------------------------

  /** RFC 8: mmi.service answers 200 or 404; any other mmi.* answers 501. */
  private serveMmi(envelope: Buffer[], service: string, body: Buffer[]): void {
    this.counts.mmi += 1;
    let answer = MMI_NOT_IMPLEMENTED;
    if (service === MMI_SERVICE) {
      const asked = this.services.get(body[0]?.toString("latin1") ?? "");
      answer = asked && asked.workers.size > 0 ? MMI_FOUND : MMI_NOT_FOUND;
    }
    this.toClient(clientReply(envelope, service, [Buffer.from(answer)]));
  }

  private enqueue(request: Request): void {
    const service = this.serviceFor(request.service);
    if (!service) {
      this.fail(request, ERROR_FAILED, `the broker serves at most ${MAX_SERVICES} services`);
      return;
    }
    if (this.waitingTotal >= this.config.maxWaiting || this.waitingBytes + request.bytes > this.maxWaitingBytes) {
      this.fail(request, ERROR_FAILED, `the broker is full (${this.waitingTotal} requests, ${this.waitingBytes} bytes waiting)`);
      return;
    }
    service.requests.push(request);
    this.hold(request);
    this.dispatch(service);
  }

  /** The broker's error reply: ["mmi.error", code, reason] under the service asked for. */
  private fail(request: Request, code: string, reason: string): void {
    if (code === ERROR_EXPIRED) this.counts.expired += 1;
    else this.counts.failed += 1;
    this.log.warn({ service: request.service, code, reason }, code === ERROR_EXPIRED ? "request expired" : "request failed");
    this.toClient(clientReply(request.envelope, request.service, errorBody(code, reason)));
  }

  private toClient(frames: Buffer[]): void {
    this.socket.send(frames).catch(this.undeliverable);
  }

  /** A reply's client went (EHOSTUNREACH) or stopped reading (EAGAIN): the reply is lost, as with any ROUTER. */
  private readonly undeliverable = (err: unknown) => {
    if (this.socket.closed) return;
    this.counts.undeliverable += 1;
    this.log.debug({ err, undeliverable: this.counts.undeliverable }, "reply undeliverable: the client has gone");
  };

  // --- workers -------------------------------------------------------------------------------

  private serviceFor(name: string): Service | undefined {
    let service = this.services.get(name);
    if (!service) {
      if (this.services.size >= MAX_SERVICES) return undefined;
      service = { name, frame: Buffer.from(name, "latin1"), requests: [], idle: new Map(), workers: new Set(), served: 0, expired: 0 };
      this.services.set(name, service);
    }
    return service;
  }

  private register(identity: Buffer, name: string): void {
    const service = this.serviceFor(name);
    if (!service) {
      this.violation(identity, "READY with a bad service name", `over ${MAX_SERVICES} services`);
      return;
    }
    const worker: Worker = { identity, key: identity.toString("latin1"), service, lastHeard: this.now(), current: undefined, served: 0 };
    this.workers.set(worker.key, worker);
    service.workers.add(worker);
    this.log.info({ worker: identity, service: name, workers: service.workers.size }, "worker registered");
    this.makeIdle(worker);
  }

  private onReply(identity: Buffer, client: Buffer, body: Buffer[]): void {
    const worker = this.workers.get(identity.toString("latin1"));
    if (!worker) {
      this.violation(identity, "REPLY from a worker that never sent READY");
      return;
    }
    const request = worker.current;
    if (!request) {
      this.violation(identity, "REPLY while no request is in progress");
      return;
    }
    if (!client.equals(request.envelope[0] as Buffer)) {
      this.violation(identity, "REPLY for another client");
      return;
    }
    worker.current = undefined;
    worker.lastHeard = this.now();
    worker.served += 1;
    worker.service.served += 1;
    this.counts.replies += 1;
    // The worker's next request first, then this reply: the worker waits on the broker, the
    // client does not wait on the worker.
    this.makeIdle(worker);
    this.toClient(clientReply(request.envelope, worker.service.frame, body));
  }

  private hold(request: Request): void {
    this.waitingTotal += 1;
    this.waitingBytes += request.bytes;
  }

  private release(request: Request): void {
    this.waitingTotal -= 1;
    this.waitingBytes -= request.bytes;
  }

  private makeIdle(worker: Worker): void {
    const { service } = worker;
    service.idle.delete(worker.key);
    service.idle.set(worker.key, worker);
    this.dispatch(service);
  }

  /** Hands waiting requests to idle workers, the one idle longest first. */
  private dispatch(service: Service): void {
    while (service.requests.length > 0 && service.idle.size > 0) {
      const worker = service.idle.values().next().value as Worker;
      service.idle.delete(worker.key);
      const request = service.requests.shift() as Request;
      this.release(request);
      worker.current = request;
      request.dispatches += 1;
      this.toWorker(worker, brokerRequest(worker.identity, request.envelope[0] as Buffer, request.body));
    }
  }

  private toWorker(worker: Worker, frames: Buffer[]): void {
    this.socket.send(frames).catch((err: unknown) => {
      if (this.socket.closed) return;
      // Its connection has gone (EHOSTUNREACH) or is full (EAGAIN): as good as dead.
      this.log.debug({ err, worker: worker.identity }, "send to a worker failed");
      this.removeWorker(worker, "unreachable");
    });
  }

  /**
   * Takes a worker out (it died, left or broke the protocol). Its request in progress goes back to
   * the front of its queue for another worker, unless this was already its second worker.
   */
  private removeWorker(worker: Worker, why: string): void {
    if (this.workers.get(worker.key) !== worker) return;
    this.workers.delete(worker.key);
    const { service } = worker;
    service.workers.delete(worker);
    service.idle.delete(worker.key);
    const request = worker.current;
    worker.current = undefined;
    const busy = request !== undefined;
    this.log.warn({ worker: worker.identity, service: service.name, why, busy, workers: service.workers.size }, "worker removed");
    if (!request) {
      this.forgetIfUnused(service);
      return;
    }
    if (request.dispatches >= MAX_DISPATCHES) {
      this.fail(request, ERROR_FAILED, `the ${MAX_DISPATCHES} workers it was sent to died with it (${why})`);
      return;
    }
    this.counts.redispatched += 1;
    request.since = this.now();
    service.requests.unshift(request);
    this.hold(request);
    // The body's first bytes, so a person can follow the request (the broker never interprets them).
    this.log.warn(
      {
        service: service.name,
        body: request.body[0]?.subarray(0, 32).toString(),
        redispatched: this.counts.redispatched,
        idle: service.idle.size,
      },
      "request in progress on the dead worker sent again to the next worker",
    );
    this.dispatch(service);
  }

  /** A service with no worker and no request is forgotten, so mmi.service never finds a ghost. */
  private forgetIfUnused(service: Service): void {
    if (service.workers.size === 0 && service.requests.length === 0 && this.services.get(service.name) === service)
      this.services.delete(service.name);
  }

  /** RFC 7: a valid but unexpected command gets DISCONNECT, and nothing more is sent to that worker. */
  private violation(identity: Buffer, reason: Violation, detail?: string): void {
    this.counts.violations += 1;
    this.log.warn({ worker: identity, reason, detail, violations: this.counts.violations }, "protocol violation: DISCONNECT");
    const worker = this.workers.get(identity.toString("latin1"));
    if (worker) this.removeWorker(worker, reason);
    this.socket.send(brokerCommand(identity, DISCONNECT)).catch(() => {});
    const key = identity.toString("latin1");
    this.disconnected.delete(key);
    this.disconnected.set(key, this.now());
    if (this.disconnected.size > MAX_DISCONNECTED) this.disconnected.delete(this.disconnected.keys().next().value as string);
  }

  // --- timers --------------------------------------------------------------------------------

  /** Every heartbeat interval: remove the silent, send HEARTBEAT to the rest (busy or idle). */
  private heartbeat(): void {
    const now = this.now();
    const deadAfter = this.config.heartbeatMs * this.config.liveness;
    for (const worker of [...this.workers.values()]) {
      if (now - worker.lastHeard > deadAfter) {
        this.counts.workersExpired += 1;
        this.removeWorker(worker, `silent for ${Math.round(now - worker.lastHeard)} ms`);
      } else this.toWorker(worker, brokerCommand(worker.identity, HEARTBEAT));
    }
    // A worker sent DISCONNECT has had a liveness period to close its socket: forget it.
    for (const [key, at] of this.disconnected) {
      if (now - at <= deadAfter) break;
      this.disconnected.delete(key);
    }
  }

  /** Requests that waited their time for a worker get the "504" error reply. */
  private expireRequests(): void {
    const now = this.now();
    const limit = this.config.requestExpiryMs;
    for (const service of [...this.services.values()]) {
      // A request sent again after its worker died is queued at the front with a new time: scan them all.
      if (service.requests.some((r) => now - r.since > limit)) {
        const expired = service.requests.filter((r) => now - r.since > limit);
        service.requests = service.requests.filter((r) => now - r.since <= limit);
        for (const request of expired) this.release(request);
        service.expired += expired.length;
        for (const request of expired)
          this.fail(request, ERROR_EXPIRED, `no worker of service "${service.name}" took the request within ${limit} ms`);
      }
      this.forgetIfUnused(service);
    }
  }

  // --- views ---------------------------------------------------------------------------------

  /** Workers registered for a service (0 when unknown), for tests. */
  workerCount(service?: string): number {
    if (service === undefined) return this.workers.size;
    return this.services.get(service)?.workers.size ?? 0;
  }

  get waiting(): number {
    return this.waitingTotal;
  }

  snapshot(): BrokerSnapshot {
    const now = this.now();
    return {
      services: [...this.services.values()].map((s) => ({
        name: s.name,
        idle: s.idle.size,
        busy: s.workers.size - s.idle.size,
        waiting: s.requests.length,
        oldestWaitMs: s.requests.length > 0 ? now - (s.requests[0] as Request).since : undefined,
        served: s.served,
        expired: s.expired,
      })),
      counts: { ...this.counts },
      heartbeatMs: this.config.heartbeatMs,
      liveness: this.config.liveness,
      requestExpiryMs: this.config.requestExpiryMs,
    };
  }
}
