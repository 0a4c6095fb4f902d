// Every bound socket of every role, fuzzed as a real process (issue 10). lab01 binds one socket:
// the monitor agent's PUB. What a peer can send a PUB is what a SUB or XSUB sends: subscriptions
// (0x01/0x00 + prefix), and any other message, which libzmq discards.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, fuzzRole, ProcessPool } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_SUBSCRIPTION_BYTES } from "../internal/protocol.ts";
import { receivesHeartbeat } from "./fixtures.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

const SUBSCRIPTIONS = ["hb.", "hb.ok.", "hb.crit.rack1.", "hb.ok.rack1.fuzz.", ""].flatMap((p) => [`\x01${p}`, `\x00${p}`]);

describe("fuzz", () => {
  it("the monitor agent's PUB survives 1,000+ hostile messages from an XSUB peer and still publishes", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    const agent = procs.start({ labDir, cmd: "cmd/monitor-agent.ts", args: ["--id", "fuzz", "--bind", endpoint, "--interval", "50"] });
    await agent.waitForLog("listening", 20_000);
    const report = await fuzzRole(agent, {
      endpoint,
      peer: "xsub",
      words: SUBSCRIPTIONS,
      maxMessageBytes: MAX_SUBSCRIPTION_BYTES,
      maxRssMiB: 250,
      probe: () => receivesHeartbeat(endpoint),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });
});
