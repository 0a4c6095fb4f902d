import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { MonitorAgent } from "../internal/agent.ts";
import { agentOptions, checkAgent, LAB } from "../internal/config.ts";
import { HostSampler } from "../internal/metrics.ts";

const config = parseConfig({
  lab: LAB,
  role: "monitor-agent",
  describe: "publishes this node's heartbeat (PUB) with real host metrics",
  options: agentOptions,
  check: checkAgent,
});
const log = createLogger({ lab: LAB, role: "monitor-agent" });

runMain(log, async (signal) => {
  const agent = new MonitorAgent(
    { id: config.id, rack: config.rack, bind: config.bind, intervalMs: config.interval, simulate: config.simulate },
    new HostSampler(),
    log,
  );
  await agent.run(signal);
});
