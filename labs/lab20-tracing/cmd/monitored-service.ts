import { publishView, runRole } from "@zlabs/kit";
import { checkService, LAB, serviceConfig, serviceOptions } from "../internal/config.ts";
import { MonitoredService } from "../internal/monitored-service.ts";

runRole(
  {
    lab: LAB,
    role: "monitored-service",
    describe: "one stage of the traced chain (gateway, enricher or scorer)",
    options: serviceOptions,
    check: checkService,
  },
  (config, log, signal) => new MonitoredService(serviceConfig(config), log, publishView).run(signal),
);
