// Every bound socket of every role, fuzzed with the kit's helper against the real processes; after
// each fuzz the gateway must still acknowledge a valid record.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { encodeRecord } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const tmp = mkdtempSync(join(tmpdir(), "lab05-fuzz-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => procs.stopAll());

const RECORD_FIELDS = ["v", "id", "at", "actor", "action", "target", "details"];
const BODY_FIELDS = ["recordId", "result", "archivist", "reason", "inflight", "retryAfterMs"];
let probes = 0;

/** A valid record through the gateway, acknowledged (a BUSY is asked again). */
async function probe(front: string): Promise<void> {
  const client = new Dealer({ linger: 0 });
  client.connect(front);
  try {
    for (;;) {
      const id = `probe-${++probes}`;
      await client.send([id, "AUDIT", encodeRecord({ v: 1, id, at: Date.now(), actor: "fuzz", action: "read", target: "t" })]);
      const [corr, status] = await withDeadline(client.receive(), 10_000, "the probe's reply");
      if (String(corr) !== id) continue;
      if (String(status) === "ACK") return;
      if (String(status) !== "BUSY") throw new Error(`the probe got ${String(status)}`);
    }
  } finally {
    client.close();
  }
}

async function start(): Promise<{ gateway: RoleProcess; front: string; back: string }> {
  const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
  const gateway = procs.start({ labDir, cmd: "cmd/audit-gateway.ts", name: "gateway", args: ["--front", front, "--back", back] });
  await gateway.waitForLog("listening", WAIT_MS);
  const archivist = procs.start({
    labDir,
    cmd: "cmd/archival-worker.ts",
    name: "archivist",
    args: ["--id", "fuzzed", "--gateway", back, "--archive", join(tmp, `archive-${probes}`)],
  });
  await archivist.waitForLog("archivist ready", WAIT_MS);
  await probe(front);
  return { gateway, front, back };
}

describe("fuzzing the audit gateway", () => {
  it("the clients' ROUTER takes 1,000 malformed requests, answers each, and still acknowledges a record", async () => {
    const { gateway, front } = await start();
    const report = await fuzzRole(gateway, {
      endpoint: front,
      peer: "dealer",
      words: ["AUDIT", "k1"],
      fields: RECORD_FIELDS,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(gateway.find("malformed request").length).toBeGreaterThan(100);
    expect(gateway.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the archivists' DEALER takes 1,000 malformed results, drops them, and still acknowledges a record", async () => {
    const { gateway, front, back } = await start();
    const report = await fuzzRole(gateway, {
      endpoint: back,
      peer: "dealer",
      words: ["ACK", "ERROR", "BUSY", "AUDIT"],
      fields: BODY_FIELDS,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(gateway.find("malformed result from an archivist dropped").length).toBeGreaterThan(100);
    expect(gateway.find("message dropped: its handling failed")).toEqual([]);
  });
});
