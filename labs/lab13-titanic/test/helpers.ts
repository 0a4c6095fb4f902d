// What the lab13 tests share: fast intervals, and roles run in-process on real sockets.
import { type Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { MajordomoBroker } from "lab12/broker";
import { MdpClient } from "lab12/client";
import { decodeTspReply, parseUuid, TITANIC_REPLY, TITANIC_REQUEST, type TspReply } from "../internal/protocol.ts";
import { STORAGE_SERVICE, StorageService } from "../internal/storage-service.ts";
import { TitanicBroker, type TitanicConfig } from "../internal/titanic-broker.ts";

export const log = testLogger("lab13");
/** Heartbeats for tests: fast, the same on broker and workers. */
export const HEARTBEAT_MS = 200;
export const LIVENESS = 3;
export const MDP_FLAGS = ["--heartbeat", String(HEARTBEAT_MS), "--liveness", String(LIVENESS), "--reconnect", "200"];

export function titanicConfig(broker: string, dir: string, more: Partial<TitanicConfig> = {}): TitanicConfig {
  return {
    broker,
    dir,
    groupCommit: true,
    compactMinBytes: 1024 * 1024,
    requestWorkers: 4,
    replyWorkers: 2,
    closeWorkers: 2,
    dispatchers: 2,
    scanMs: 100,
    dispatchTimeoutMs: 1000,
    dispatchRetries: 1,
    heartbeatMs: HEARTBEAT_MS,
    liveness: LIVENESS,
    reconnectMs: 200,
    storageRetryMs: 200,
    maxOpen: 100_000,
    ...more,
  };
}

/** lab12's broker in-process on a free port; resolves with its endpoint. */
export async function startBroker(tasks: Tasks): Promise<string> {
  const broker = new MajordomoBroker(
    { endpoint: "tcp://127.0.0.1:*", heartbeatMs: HEARTBEAT_MS, liveness: LIVENESS, requestExpiryMs: 2000, maxWaiting: 10_000 },
    log,
  );
  await broker.bind();
  void tasks.run((signal) => broker.run(signal));
  return broker.endpoints.endpoint;
}

export function startTitanic(tasks: Tasks, config: TitanicConfig): TitanicBroker {
  const titanic = new TitanicBroker(config, log);
  void tasks.run((signal) => titanic.run(signal));
  return titanic;
}

export function startStorage(tasks: Tasks, broker: string, dir: string): StorageService {
  const storage = new StorageService(
    {
      broker,
      service: STORAGE_SERVICE,
      dir,
      maxArtefactBytes: 256 * 1024,
      costMs: 0,
      heartbeatMs: HEARTBEAT_MS,
      liveness: LIVENESS,
      reconnectMs: 200,
    },
    log,
  );
  void tasks.run((signal) => storage.run(signal));
  return storage;
}

/** A TSP client for the tests: one MDP client, with helpers for the three services. */
export class Tsp {
  readonly mdp: MdpClient;
  constructor(broker: string, timeoutMs = 2000, retries = 3) {
    this.mdp = new MdpClient({ broker, timeoutMs, retries }, log);
  }
  async call(service: string, body: (Buffer | string)[]): Promise<TspReply> {
    return decodeTspReply(
      await this.mdp.request(
        service,
        body.map((b) => (typeof b === "string" ? Buffer.from(b) : b)),
      ),
    );
  }
  /** Submits and returns the uuid (throws on anything but 200 + a uuid). */
  async submit(service: string, body: (Buffer | string)[]): Promise<string> {
    const reply = await this.call(TITANIC_REQUEST, [service, ...body]);
    const uuid = reply.kind === "ok" ? parseUuid(reply.frames[0]) : undefined;
    if (!uuid) throw new Error(`titanic.request answered ${reply.kind}`);
    return uuid;
  }
  /** Polls titanic.reply until 200; returns the reply body. */
  async awaitReply(uuid: string, timeoutMs = 15_000): Promise<string[]> {
    let body: string[] = [];
    await waitUntil(
      async () => {
        const r = await this.call(TITANIC_REPLY, [uuid]).catch(() => undefined);
        if (r?.kind !== "ok") return false;
        body = r.frames.map(String);
        return true;
      },
      { timeoutMs, what: `the reply for ${uuid}`, everyMs: 100 },
    );
    return body;
  }
  close(): void {
    this.mdp.close();
  }
}
