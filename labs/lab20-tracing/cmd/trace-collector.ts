import { publishView, runRole } from "@zlabs/kit";
import { checkCollector, collectorConfig, collectorOptions, LAB } from "../internal/config.ts";
import { TraceCollector } from "../internal/trace-collector.ts";

runRole(
  {
    lab: LAB,
    role: "trace-collector",
    describe: "PULL span batches, assemble traces, waterfall, OTLP files and forwarding",
    options: collectorOptions,
    check: checkCollector,
  },
  (config, log, signal) => new TraceCollector(collectorConfig(config), log, publishView).run(signal),
);
