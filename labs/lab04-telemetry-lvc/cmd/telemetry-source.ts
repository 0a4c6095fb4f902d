import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { checkSource, LAB, sourceOptions } from "../internal/config.ts";
import { TelemetrySource } from "../internal/source.ts";

const config = parseConfig({
  lab: LAB,
  role: "telemetry-source",
  describe: "publishes a plant's telemetry (PUB)",
  options: sourceOptions,
  check: checkSource,
});
const log = createLogger({ lab: LAB, role: "telemetry-source" });

runMain(log, (signal) =>
  new TelemetrySource(
    {
      id: config.id ?? `${config.site}-source`,
      site: config.site,
      devices: config.devices,
      broker: config.broker,
      intervalMs: config.interval,
      churn: config.churn,
      limit: config.limit,
    },
    log,
  ).run(signal),
);
