import { runRole } from "@zlabs/kit";
import { checkCollector, collectorConfig, collectorOptions, LAB } from "../internal/config.ts";
import { runCollector } from "../internal/log-collector.ts";

runRole(
  {
    lab: LAB,
    role: "log-collector",
    describe: "reads log files and pushes their lines to the parsers (PUSH), one batch, then exits",
    options: collectorOptions,
    check: checkCollector,
  },
  (config, log, signal) => runCollector(collectorConfig(config), log, signal),
);
