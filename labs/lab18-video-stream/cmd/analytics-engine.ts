import { publishView, runRole } from "@zlabs/kit";
import { AnalyticsEngine } from "../internal/analytics-engine.ts";
import { checkEngine, engineConfig, engineOptions, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "analytics-engine",
    describe: "video analytics: histogram, motion, latency on a SUB socket",
    options: engineOptions,
    check: checkEngine,
  },
  (config, log, signal) => new AnalyticsEngine(engineConfig(config), log, { publish: publishView }).run(signal),
);
