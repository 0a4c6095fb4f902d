import { runRole } from "@zlabs/kit";
import { checkTelemetry, LAB, telemetryConfig, telemetryOptions } from "../internal/config.ts";
import { TelemetryFeed } from "../internal/telemetry-feed.ts";

const describe = "publishes a site's telemetry samples in lab04's wire format to the bridge";
runRole({ lab: LAB, role: "telemetry-feed", describe, options: telemetryOptions, check: checkTelemetry }, (config, log, signal) =>
  new TelemetryFeed(telemetryConfig(config), log).run(signal),
);
