import { publishView, runRole } from "@zlabs/kit";
import { agentConfig, agentOptions, checkAgent, LAB } from "../internal/config.ts";
import { SecureAgent } from "../internal/secure-agent.ts";

runRole(
  {
    lab: LAB,
    role: "secure-agent",
    describe: "CURVE agent running signed commands in a sandbox",
    options: agentOptions,
    check: checkAgent,
  },
  async (a, log, signal) => new SecureAgent(await agentConfig(a, log), log, { publish: publishView }).run(signal),
);
