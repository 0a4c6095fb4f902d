import { setMaxListeners } from "node:events";
import { type Logger, pause, type View, Wakeup } from "@zlabs/kit";
import { MdpClient } from "lab12/client";
import { MMI_FOUND, MMI_SERVICE } from "lab12/mdp";
import { MdpWorker } from "lab12/worker";
import { JournalWriteError } from "./journal.ts";
import {
  decodeTitanicRequest,
  decodeUuidRequest,
  ERROR,
  OK,
  PENDING,
  statusFrame,
  TITANIC_CLOSE,
  TITANIC_REPLY,
  TITANIC_REQUEST,
  UNKNOWN,
} from "./protocol.ts";
import { StorageUnavailable, TitanicStore } from "./store.ts";
import { type TitanicCounters, type TitanicSnapshot, titanicView, VIEW_MS } from "./view.ts";

/** The Guide's dispatcher scans the queue every second (titanic.c). */
export const SCAN_MS = 1000;
/**
 * How long the dispatcher waits for a service's reply. The Guide's Titanic uses 1000 ms with one
 * dispatcher (titanic.c); with several dispatchers in front of one slow worker, a request also waits
 * in the broker's queue behind its siblings, and a timeout there only sends a duplicate: 5 s.
 */
export const DISPATCH_TIMEOUT_MS = 5000;
export const DISPATCH_RETRIES = 1;
/** Requests dispatched at once, each on its own MDP client. */
export const DISPATCHERS = 4;
/** MDP workers per Titanic service: titanic.request needs several so that group commit has requests to group. */
export const REQUEST_WORKERS = 8;
export const REPLY_WORKERS = 4;
export const CLOSE_WORKERS = 2;
/**
 * The most requests stored and not yet closed. Each costs an index entry in memory, and peers
 * choose how many they send: past this, titanic.request answers 500 (retry later) until some close.
 */
export const MAX_OPEN_REQUESTS = 100_000;
/** How often unusable storage is tried again. */
export const STORAGE_RETRY_MS = 1000;

export interface TitanicConfig {
  broker: string;
  dir: string;
  groupCommit: boolean;
  compactMinBytes: number;
  requestWorkers: number;
  replyWorkers: number;
  closeWorkers: number;
  dispatchers: number;
  scanMs: number;
  dispatchTimeoutMs: number;
  dispatchRetries: number;
  heartbeatMs: number;
  liveness: number;
  reconnectMs: number;
  storageRetryMs: number;
  maxOpen: number;
}

export interface TitanicDeps {
  publish?: (view: View) => void;
}

/** Rows of recent requests in the view. */
const RECENT_ROWS = 5;
/** A service with no worker is asked again after at most this many scans (the back-off doubles up to it). */
export const SERVICE_BACKOFF_SCANS = 8;
/** The most services whose state the dispatcher remembers. */
const MAX_SERVICES_TRACKED = 10_000;

interface ServiceState {
  up: boolean;
  until: number;
  backoffMs: number;
}

type Handler = (body: Buffer[]) => Promise<Buffer[]>;

/**
 * Titanic (RFC 9/TSP): three MDP workers (titanic.request, titanic.reply, titanic.close) in front of
 * a journal, and a dispatcher that is an MDP client of the real services. The disk stays out of the
 * Majordomo broker: to the broker Titanic is a few workers and a few clients.
 */
export class TitanicBroker {
  readonly store: TitanicStore;
  readonly counters: TitanicCounters = { stored: 0, refused: 0, failed500: 0, dispatched: 0, replied: 0, closed: 0, dispatchErrors: 0 };
  private readonly inFlight = new Set<string>();
  /** What mmi.service said of each service lately, and until when (ms) that holds. */
  private readonly services = new Map<string, ServiceState>();
  private readonly work = new Wakeup();
  private readonly quietLog: Logger;
  private readonly recent: { uuid: string; service: string; state: string; at: number }[] = [];

  constructor(
    private readonly config: TitanicConfig,
    private readonly log: Logger,
    private readonly deps: TitanicDeps = {},
  ) {
    this.store = new TitanicStore({ dir: config.dir, groupCommit: config.groupCommit, compactMinBytes: config.compactMinBytes, log });
    this.store.onPending = () => this.work.wake();
    this.quietLog = log.child({}, { level: "warn" });
  }

  async run(signal: AbortSignal): Promise<void> {
    // Every worker, dispatcher and loop listens to this one signal.
    setMaxListeners(0, signal);
    const workers: Promise<void>[] = [];
    const serve = (service: string, count: number, handle: Handler) => {
      for (let i = 0; i < count; i++) {
        const worker = new MdpWorker(
          {
            broker: this.config.broker,
            service,
            heartbeatMs: this.config.heartbeatMs,
            liveness: this.config.liveness,
            reconnectMs: this.config.reconnectMs,
          },
          // The first worker of each service logs its (re)registrations; the others only their trouble.
          i === 0 ? this.log : this.quietLog,
        );
        workers.push(worker.run(signal, (body) => this.guard(service, body, handle)));
      }
    };
    await this.store.open();
    serve(TITANIC_REQUEST, this.config.requestWorkers, (b) => this.onRequest(b));
    serve(TITANIC_REPLY, this.config.replyWorkers, (b) => this.onReply(b));
    serve(TITANIC_CLOSE, this.config.closeWorkers, (b) => this.onClose(b));
    this.log.info(
      { broker: this.config.broker, dir: this.config.dir, groupCommit: this.config.groupCommit },
      "titanic up: serving titanic.request, titanic.reply, titanic.close",
    );
    const loops = [
      ...workers,
      ...Array.from({ length: this.config.dispatchers }, (_, i) => this.dispatchLoop(signal, i)),
      this.storageLoop(signal),
      this.viewLoop(signal),
    ];
    await Promise.all(loops);
    await this.store.shutdown();
  }

  /** The per-request error boundary: whatever goes wrong inside, the client gets a TSP status (500), never silence. */
  private async guard(service: string, body: Buffer[], handle: Handler): Promise<Buffer[]> {
    try {
      return await handle(body);
    } catch (err) {
      this.counters.failed500 += 1;
      if (err instanceof StorageUnavailable || err instanceof JournalWriteError) {
        this.log.warn({ service, reason: err.message }, "storage failed: answered 500, nothing acknowledged");
      } else {
        this.log.error({ err, service }, "request failed: answered 500");
      }
      return [statusFrame(ERROR)];
    }
  }

  private refuse(service: string, reason: string): Buffer[] {
    this.counters.refused += 1;
    this.log.warn({ service, reason, refused: this.counters.refused }, "malformed TSP request: answered 400");
    return [statusFrame(UNKNOWN)];
  }

  private async onRequest(body: Buffer[]): Promise<Buffer[]> {
    const msg = decodeTitanicRequest(body);
    switch (msg.kind) {
      case "invalid":
        return this.refuse(TITANIC_REQUEST, msg.reason);
      case "request": {
        if (this.store.size.entries >= this.config.maxOpen) {
          this.counters.failed500 += 1;
          this.log.warn({ open: this.store.size.entries, max: this.config.maxOpen }, "too many requests open: answered 500 (retry later)");
          return [statusFrame(ERROR)];
        }
        const uuid = await this.store.submit(msg.service, msg.body);
        this.counters.stored += 1;
        this.note(uuid, msg.service, "stored");
        this.log.debug({ uuid, service: msg.service }, "request stored (durable), answered 200");
        return [statusFrame(OK), Buffer.from(uuid, "latin1")];
      }
    }
  }

  private async onReply(body: Buffer[]): Promise<Buffer[]> {
    const msg = decodeUuidRequest(body);
    switch (msg.kind) {
      case "invalid":
        return this.refuse(TITANIC_REPLY, msg.reason);
      case "uuid": {
        const state = await this.store.reply(msg.uuid);
        switch (state.kind) {
          case "unknown":
            return [statusFrame(UNKNOWN)];
          case "pending":
            return [statusFrame(PENDING)];
          case "done":
            return [statusFrame(OK), ...state.frames];
        }
      }
    }
  }

  private async onClose(body: Buffer[]): Promise<Buffer[]> {
    const msg = decodeUuidRequest(body);
    switch (msg.kind) {
      case "invalid":
        return this.refuse(TITANIC_CLOSE, msg.reason);
      case "uuid": {
        const service = this.store.serviceOf(msg.uuid) ?? "";
        await this.store.close(msg.uuid);
        this.counters.closed += 1;
        this.note(msg.uuid, service, "closed");
        return [statusFrame(OK)];
      }
    }
  }

  /** Until a request becomes pending or the next scan is due (or the role stops). */
  private async idle(signal: AbortSignal): Promise<void> {
    const done = new AbortController();
    const stop = () => done.abort();
    signal.addEventListener("abort", stop, { once: true });
    await Promise.race([this.work.wait(done.signal), pause(this.config.scanMs, done.signal)]);
    done.abort();
    signal.removeEventListener("abort", stop);
  }

  /** One dispatcher: takes pending requests oldest first, asks mmi.service, calls the service, stores the reply. */
  private async dispatchLoop(signal: AbortSignal, slot: number): Promise<void> {
    const client = new MdpClient(
      { broker: this.config.broker, timeoutMs: this.config.dispatchTimeoutMs, retries: this.config.dispatchRetries },
      this.log.child({ dispatcher: slot }),
    );
    const skipped = new Set<string>();
    try {
      while (!signal.aborted) {
        const uuid = this.nextDispatchable(skipped);
        if (!uuid) {
          skipped.clear();
          await this.idle(signal);
          continue;
        }
        this.inFlight.add(uuid);
        try {
          const done = await this.dispatch(client, uuid, signal);
          if (!done) skipped.add(uuid);
        } catch (err) {
          skipped.add(uuid);
          this.counters.dispatchErrors += 1;
          // A service that does not answer is left alone for a while, as one with no worker.
          const service = this.store.serviceOf(uuid);
          if (service !== undefined) this.serviceDown(service, this.services.get(service));
          if (!signal.aborted) this.log.warn({ uuid, reason: (err as Error).message }, "dispatch failed: the request stays pending");
        } finally {
          this.inFlight.delete(uuid);
        }
      }
    } finally {
      client.close();
    }
  }

  private nextDispatchable(skipped: Set<string>): string | undefined {
    for (const uuid of this.store.pending) {
      if (!this.inFlight.has(uuid) && !skipped.has(uuid)) return uuid;
    }
    return undefined;
  }

  /** true when the reply is stored (or the request is gone); false when its service has no worker now. */
  private async dispatch(client: MdpClient, uuid: string, signal: AbortSignal): Promise<boolean> {
    if (!this.store.available) return false;
    const service = this.store.serviceOf(uuid);
    if (service === undefined) return true;
    const known = this.services.get(service);
    const now = Date.now();
    if (known && now < known.until && !known.up) return false;
    if (!known?.up || now >= known.until) {
      const mmi = await client.request(MMI_SERVICE, [Buffer.from(service, "latin1")], signal);
      if (mmi[0]?.toString() !== MMI_FOUND) {
        this.serviceDown(service, known);
        this.note(uuid, service, "no worker");
        return false;
      }
      this.services.delete(service);
      this.services.set(service, { up: true, until: Date.now() + this.config.scanMs, backoffMs: 0 });
    }
    const request = await this.store.request(uuid);
    if (!request) return true;
    this.counters.dispatched += 1;
    this.note(uuid, service, "dispatched");
    const reply = await client.request(service, request.body, signal);
    if (await this.store.storeReply(uuid, reply)) {
      this.counters.replied += 1;
      this.note(uuid, service, "replied");
      this.log.info({ uuid, service }, "reply stored");
    }
    return true;
  }

  /**
   * A service with no worker is asked again after a back-off that doubles from one scan up to
   * SERVICE_BACKOFF_SCANS scans: requests for services that never come cost little.
   */
  private serviceDown(service: string, known: ServiceState | undefined): void {
    const backoffMs = Math.min((known?.backoffMs || this.config.scanMs / 2) * 2, this.config.scanMs * SERVICE_BACKOFF_SCANS);
    this.services.delete(service);
    this.services.set(service, { up: false, until: Date.now() + backoffMs, backoffMs });
    // Bounded: a peer names the services; the oldest entries go first.
    while (this.services.size > MAX_SERVICES_TRACKED) this.services.delete(this.services.keys().next().value as string);
  }

  /** Unusable storage (not there, unwritable, a failed write it could not undo) is tried again until it works. */
  private async storageLoop(signal: AbortSignal): Promise<void> {
    while (await pause(this.config.storageRetryMs, signal)) {
      if (!this.store.available && (await this.store.open()))
        this.log.info({ dir: this.config.dir }, "storage back: accepting requests again");
    }
  }

  private note(uuid: string, service: string, state: string): void {
    const row = this.recent.find((r) => r.uuid === uuid);
    if (row) {
      row.state = state;
      row.at = Date.now();
      if (service) row.service = service;
      return;
    }
    this.recent.unshift({ uuid, service, state, at: Date.now() });
    if (this.recent.length > RECENT_ROWS) this.recent.pop();
  }

  snapshot(): TitanicSnapshot {
    return {
      recent: this.recent.map((r) => ({ ...r, ageMs: Date.now() - r.at })),
      counters: { ...this.counters },
      size: this.store.size,
      journal: this.store.stats ? { ...this.store.stats } : undefined,
      storage: this.store.unavailableReason,
      groupCommit: this.config.groupCommit,
    };
  }

  private async viewLoop(signal: AbortSignal): Promise<void> {
    const publish = this.deps.publish;
    if (!publish) return;
    do publish(titanicView(this.snapshot()));
    while (await pause(VIEW_MS, signal));
  }
}
