// Every bound socket of the real proxy process fuzzed with the kit's helper: the front ROUTER, the
// back DEALER, the control REP and the capture tap's XPUB. After each, the proxy is alive, still
// forwards a real lookup to a real records service, and still answers STATISTICS.
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Request } from "zeromq";
import { CONTROL_MAX_BYTES } from "../internal/monitored-broker.ts";
import { COMMANDS, decodeStatistics, encodeLookup, fromService } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

async function ask(endpoint: string, message: string | Buffer): Promise<Buffer[]> {
  for (let attempt = 1; ; attempt++) {
    const req = new Request({ linger: 0, receiveTimeout: 5000 });
    req.connect(endpoint);
    try {
      await req.send(message);
      return await withDeadline(req.receive(), 10_000, "an answer");
    } catch (err) {
      if ((err as { code?: string }).code !== "EAGAIN" || attempt === 3) throw err;
    } finally {
      req.close();
    }
  }
}

/** A real lookup through the proxy to the records service, and STATISTICS from the control socket. */
async function probe(front: string, control: string): Promise<void> {
  const reply = fromService(await ask(front, encodeLookup({ v: 1, customer: "C-00042" })));
  if (reply.kind !== "record" || !("name" in reply.record)) throw new Error(`the probe got ${JSON.stringify(reply)}`);
  const stats = decodeStatistics(await ask(control, "STATISTICS"));
  if (!stats.ok) throw new Error(`STATISTICS: ${stats.reason}`);
}

async function start(): Promise<{ broker: RoleProcess; front: string; back: string; control: string; tap: string }> {
  const [front, back, control, tap] = (await freeTcpEndpoints(4)) as [string, string, string, string];
  const broker = procs.start({
    labDir,
    cmd: "cmd/monitored-broker.ts",
    name: "broker",
    args: ["--front", front, "--back", back, "--control", control, "--capture", tap],
  });
  await broker.waitForLog("listening", WAIT_MS);
  procs.start({ labDir, cmd: "cmd/records-service.ts", name: "service", args: ["--id", "fuzz-service", "--proxy", back] });
  await probe(front, control);
  return { broker, front, back, control, tap };
}

describe("fuzzing the monitored proxy", () => {
  it("the front ROUTER forwards 1,000 malformed requests (the service refuses them) and still serves a lookup", async () => {
    const { broker, front, control } = await start();
    const report = await fuzzRole(broker, {
      endpoint: front,
      peer: "dealer",
      envelope: true,
      fields: ["v", "customer"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front, control),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
  });

  it("the back DEALER takes 1,000 malformed replies (routed to no one) and still serves a lookup", async () => {
    const { broker, front, back, control } = await start();
    const report = await fuzzRole(broker, {
      endpoint: back,
      peer: "dealer",
      envelope: false,
      fields: ["v", "customer", "name", "tier", "by", "error"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front, control),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });

  it("the control REP takes 1,000 malformed commands (PAUSE and TERMINATE among them, but never alone) and still serves", async () => {
    const { broker, front, control } = await start();
    const report = await fuzzRole(broker, {
      endpoint: control,
      peer: "dealer",
      envelope: true,
      // Commands with something after them: a real PAUSE or TERMINATE would (rightly) stop the proxy.
      words: COMMANDS.map((c) => `${c}!`),
      maxMessageBytes: CONTROL_MAX_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front, control),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("unknown control command: nothing changed").length).toBeGreaterThan(100);
    expect(broker.find(/^(PAUSE|TERMINATE)/)).toEqual([]);
  });

  it("the capture tap's XPUB takes 1,000 malformed subscriptions and still serves", async () => {
    const { broker, front, control, tap } = await start();
    const report = await fuzzRole(broker, {
      endpoint: tap,
      peer: "xsub",
      words: ["\x01fe>be", "\x00be>fe", "\x01", "\x00"],
      maxMessageBytes: 256,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(front, control),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(broker.find("message dropped: its handling failed")).toEqual([]);
  });
});
