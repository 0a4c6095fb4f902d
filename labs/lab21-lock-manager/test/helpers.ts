// What the in-process tests share: a lock server (and a ledger) on ephemeral ports, and raw peers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, peerLimits } from "@zlabs/kit";
import { testLogger, withDeadline } from "@zlabs/kit/testing";
import { Dealer } from "zeromq";
import { LockServer, type ServerConfig } from "../internal/lock-server.ts";
import { decodeReply, encodeRequest, type LockReply, type Op } from "../internal/protocol.ts";

export const log: Logger = testLogger("lab21");

const made: string[] = [];

/** A fresh folder under the system's tmp; removeTmpDirs() in afterAll deletes every one made. */
export function tmpDir(what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lab21-${what}-`));
  made.push(dir);
  return dir;
}

export function removeTmpDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function serverConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    endpoint: "tcp://127.0.0.1:*",
    dataDir: tmpDir("server"),
    maxTtlMs: 2000,
    graceMs: 2000,
    sweepMs: 10,
    heartbeatMs: 50,
    liveness: 3,
    maxLocks: 100,
    maxWaiters: 10,
    maxClients: 100,
    ...overrides,
  };
}

export async function boundServer(overrides: Partial<ServerConfig> = {}, history?: ConstructorParameters<typeof LockServer>[2]) {
  const server = new LockServer(serverConfig(overrides), log, history);
  await server.bind();
  return server;
}

/** A raw DEALER speaking the protocol by hand, as a peer in another language would. */
export class RawClient {
  readonly dealer = new Dealer({ linger: 0, ...peerLimits() });
  private req = 1;

  constructor(
    endpoint: string,
    readonly id: string,
  ) {
    this.dealer.connect(endpoint);
  }

  send(op: Op, fields: Record<string, unknown> = {}, req = this.req++): Promise<void> {
    return this.dealer.send(encodeRequest({ op, req, client: this.id, ...fields }));
  }

  async next(what = "a reply"): Promise<LockReply> {
    const [frame] = await withDeadline(this.dealer.receive(), 5000, what);
    const r = decodeReply(frame);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  }

  async ask(op: Op, fields: Record<string, unknown> = {}, req = this.req++): Promise<LockReply> {
    await this.send(op, fields, req);
    return this.next(`the answer to ${op}`);
  }

  close(): void {
    this.dealer.close();
  }
}
