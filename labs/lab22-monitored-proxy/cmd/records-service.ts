import { publishView, runRole } from "@zlabs/kit";
import { checkService, LAB, serviceConfig, serviceOptions } from "../internal/config.ts";
import { RecordsService } from "../internal/records-service.ts";

runRole(
  {
    lab: LAB,
    role: "records-service",
    describe: "the internal customer-records service behind the proxy (REP)",
    options: serviceOptions,
    check: checkService,
  },
  (config, log, signal) => new RecordsService(serviceConfig(config), log, publishView).run(signal),
);
