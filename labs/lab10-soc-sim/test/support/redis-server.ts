// A real redis-server for the tests: a free loopback port, no persistence, a temporary dir.
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeTcpEndpoint } from "@zlabs/kit/testing";
import { ServerProcess } from "./etcd-server.ts";

export const REDIS_BIN = "/usr/bin/redis-server";

/** PING over a raw socket: true once the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

export class RedisServer {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly server: ServerProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const port = Number(new URL((await freeTcpEndpoint()).replace("tcp:", "http:")).port);
    const dir = mkdtempSync(join(tmpdir(), "lab10-redis-"));
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    const server = new ServerProcess("redis", REDIS_BIN, args, () => ping(port));
    const redis = new RedisServer(port, dir, server);
    try {
      await server.start();
    } catch (err) {
      await redis.stop();
      throw err;
    }
    return redis;
  }

  /** Stops Redis (its data is gone: no persistence) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.server.stop();
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
