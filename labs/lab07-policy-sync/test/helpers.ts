// What the lab's tests share: CHP endpoints (three ports in a row), in-process masters.
import { createServer } from "node:net";
import { freeTcpEndpoint, freeTcpEndpoints } from "@zlabs/kit/testing";
import { type MasterConfig, PolicyMaster } from "../internal/policy-master.ts";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A CHP base endpoint P whose P, P+1 and P+2 were free a moment ago. */
export async function freeChpEndpoint(): Promise<string> {
  for (;;) {
    const port = Number((await freeTcpEndpoint()).split(":").at(-1));
    if (port + 2 <= 65535 && (await portFree(port + 1)) && (await portFree(port + 2))) return `tcp://127.0.0.1:${port}`;
  }
}

export function plus(endpoint: string, n: number): string {
  const port = Number(endpoint.split(":").at(-1));
  return `${endpoint.slice(0, endpoint.lastIndexOf(":"))}:${port + n}`;
}

/** Timings for tests: fast heartbeats and HUGZ, a short silence before fail-over. */
export const FAST = { heartbeatMs: 50, hugzMs: 50, ttlSweepMs: 50, serverTtlMs: 600, pendingTtlMs: 30_000, maxKeys: 200_000 };

/** Both masters' configs for a pair on fresh ports. */
export async function pairConfigs(): Promise<{ primary: MasterConfig; backup: MasterConfig }> {
  const [p, b] = [await freeChpEndpoint(), await freeChpEndpoint()];
  const [ps, bs] = (await freeTcpEndpoints(2)) as [string, string];
  return {
    primary: { role: "primary", endpoint: p, peer: b, stateBind: ps, peerState: bs, ...FAST },
    backup: { role: "backup", endpoint: b, peer: p, stateBind: bs, peerState: ps, ...FAST },
  };
}

export { PolicyMaster };
