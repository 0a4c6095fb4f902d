// The broker's one ROUTER, fuzzed with the kit's helper against the real process: client and
// worker headers and every command byte mixed in, so the fuzz gets past the first checks. After it
// the broker must be alive, within its memory bound, and still have a request served.
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoint, fuzzRole, ProcessPool, testLogger } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MdpClient } from "../internal/client.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const log = testLogger("lab12");
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

/** An echo request through the broker; a fuzz "worker" that registered echo and went silent costs a retry at most. */
async function probe(endpoint: string): Promise<void> {
  const client = new MdpClient({ broker: endpoint, timeoutMs: 3000, retries: 3 }, log);
  try {
    const reply = await client.request("echo", [Buffer.from("probe")]);
    if (reply.map(String).join() !== "probe") throw new Error(`the probe got ${reply.map(String).join()}`);
  } finally {
    client.close();
  }
}

describe("fuzzing the majordomo broker", () => {
  it("its ROUTER takes 1,000+ malformed MDP messages and still serves a request", async () => {
    const endpoint = await freeTcpEndpoint();
    const hb = ["--heartbeat", "200"];
    // The broker forgets a DISCONNECTed peer after liveness x heartbeat: 20 s here, longer than the fuzz,
    // so the peer's worker-shaped messages after its DISCONNECT are all counted as such, however slow the run.
    const broker = procs.start({
      labDir,
      cmd: "cmd/majordomo-broker.ts",
      name: "broker",
      args: ["--endpoint", endpoint, ...hb, "--liveness", "100"],
    });
    await broker.waitForLog("listening", WAIT_MS);
    procs.start({ labDir, cmd: "cmd/echo-worker.ts", name: "echo", args: ["--broker", endpoint, ...hb] });
    await broker.waitForLog({ msg: "worker registered", service: "echo" }, WAIT_MS);
    await probe(endpoint);
    const report = await fuzzRole(broker, {
      endpoint,
      peer: "dealer",
      envelope: true,
      words: ["MDPC01", "MDPW01", "\x01", "\x02", "\x03", "\x04", "\x05", "echo", "mmi.service", "mmi.error", ""],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: 300,
      probe: () => probe(endpoint),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    // Garbage is dropped and counted; worker-shaped garbage is answered with DISCONNECT once, and
    // what the same peer sends after it is dropped without another word (RFC 7); nothing throws.
    expect(broker.find("invalid message dropped").length).toBeGreaterThan(100);
    expect(broker.find("protocol violation: DISCONNECT").length).toBeGreaterThanOrEqual(1);
    expect(broker.find("message after DISCONNECT dropped").length).toBeGreaterThan(10);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
  });
});
