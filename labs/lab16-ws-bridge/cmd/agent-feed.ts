import { runRole } from "@zlabs/kit";
import { AgentFeed } from "../internal/agent-feed.ts";
import { agentConfig, agentOptions, checkAgent, LAB } from "../internal/config.ts";

const describe = "publishes one agent's heartbeats in lab01's wire format to the bridge";
runRole({ lab: LAB, role: "agent-feed", describe, options: agentOptions, check: checkAgent }, (config, log, signal) =>
  new AgentFeed(agentConfig(config), log).run(signal),
);
