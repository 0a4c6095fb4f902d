// Both bound sockets fuzzed with the kit's helper against the real processes: the lock server's ROUTER
// and the ledger's ROUTER. After each fuzz the process is alive, within its memory bound, and serves.
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { decodeWriteReply, encodeWrite, OPS, STATUSES } from "../internal/protocol.ts";
import { RawClient, removeTmpDirs, tmpDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
afterAll(removeTmpDirs);
afterEach(() => procs.stopAll());

/** A lock taken and released by a fresh client: the server still serves. */
async function probeServer(endpoint: string): Promise<void> {
  const c = new RawClient(endpoint, `probe-${Math.floor(Math.random() * 1e9)}`);
  try {
    const got = await c.ask("ACQUIRE", { lock: `probe-${Math.floor(Math.random() * 1e9)}`, ttl: 1000 });
    if (got.status !== "GRANTED") throw new Error(`the probe got ${JSON.stringify(got)}`);
    const released = await c.ask("RELEASE", { lock: got.lock });
    if (released.status !== "RELEASED") throw new Error(`the probe's release got ${JSON.stringify(released)}`);
  } finally {
    c.close();
  }
}

async function start(): Promise<{ server: RoleProcess; ledger: RoleProcess; endpoints: { server: string; ledger: string } }> {
  const [server, ledger] = (await freeTcpEndpoints(2)) as [string, string];
  const s = procs.start({
    labDir,
    cmd: "cmd/lock-server.ts",
    name: "server",
    args: ["--endpoint", server, "--data-dir", tmpDir("fuzz-server")],
  });
  const l = procs.start({
    labDir,
    cmd: "cmd/ledger.ts",
    name: "ledger",
    args: ["--endpoint", ledger, "--server", server, "--data-dir", tmpDir("fuzz-ledger")],
  });
  await Promise.all([s.waitForLog("listening", WAIT_MS), l.waitForLog("listening", WAIT_MS)]);
  return { server: s, ledger: l, endpoints: { server, ledger } };
}

describe("fuzzing", () => {
  it("the lock server's ROUTER takes 1,000 malformed requests and still grants a lock", async () => {
    const { server, endpoints } = await start();
    await probeServer(endpoints.server);
    const report = await fuzzRole(server, {
      endpoint: endpoints.server,
      peer: "dealer",
      words: [...OPS, ...STATUSES],
      fields: ["v", "op", "req", "client", "lock", "ttl", "token"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probeServer(endpoints.server),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(server.find(/^(malformed request|invalid message) dropped$/).length).toBeGreaterThan(100);
    expect(server.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the ledger's ROUTER takes 1,000 malformed writes and still refuses a write under no lease", async () => {
    const { ledger, endpoints } = await start();
    const probe = async () => {
      const from = ledger.logs.length;
      const w = new RawClient(endpoints.ledger, "probe");
      try {
        await w.dealer.send(encodeWrite({ req: 1, client: "probe", lock: "nobody-holds-this", token: 5, text: "x" }));
        const [frame] = await withDeadline(w.dealer.receive(), 5000, "the ledger's answer");
        const reply = decodeWriteReply(frame);
        if (!reply.ok || reply.value.status !== "REFUSED") throw new Error(`the probe got ${JSON.stringify(reply)}`);
        await ledger.waitForLog("stale write refused", 5000, from);
      } finally {
        w.close();
      }
    };
    await probe();
    const report = await fuzzRole(ledger, {
      endpoint: endpoints.ledger,
      peer: "dealer",
      fields: ["v", "req", "client", "lock", "token", "text"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe,
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(ledger.find("malformed message dropped").length).toBeGreaterThan(100);
    expect(ledger.find("message dropped: its handling failed")).toEqual([]);
  });
});
