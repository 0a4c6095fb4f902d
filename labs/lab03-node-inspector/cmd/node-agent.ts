import { runRole } from "@zlabs/kit";
import { agentConfig, agentOptions, LAB } from "../internal/config.ts";
import { NodeAgent } from "../internal/node-agent.ts";

runRole(
  { lab: LAB, role: "node-agent", describe: "answers read-only questions about this host (REP)", options: agentOptions },
  (config, log, signal) => new NodeAgent(agentConfig(config), log).run(signal),
);
