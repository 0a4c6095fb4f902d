import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { agentConfig, agentSpec, LAB } from "../internal/config.ts";
import { HostSampler } from "../internal/metrics.ts";
import { MonitorAgent } from "../internal/monitor-agent.ts";

const config = agentConfig(parseConfig(agentSpec));
const log = createLogger({ lab: LAB, role: agentSpec.role });

runMain(log, (signal) => new MonitorAgent(config, new HostSampler(), log).run(signal));
