import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { NodeAgent } from "../internal/agent.ts";
import { agentOptions, checkAgent, LAB } from "../internal/config.ts";

const config = parseConfig({
  lab: LAB,
  role: "node-agent",
  describe: "answers read-only questions about this host (REP)",
  options: agentOptions,
  check: checkAgent,
});
const log = createLogger({ lab: LAB, role: "node-agent" });

runMain(log, async (signal) => {
  const chaos = config.chaos
    ? { afterCycles: config.chaosAfter, crashChance: config.crashChance, slowChance: config.slowChance, slowMs: config.slowMs }
    : undefined;
  await new NodeAgent({ id: config.id, bind: config.bind, ...(chaos ? { chaos } : {}) }, log).run(signal);
});
