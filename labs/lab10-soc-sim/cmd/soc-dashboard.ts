import { publishView, runRole } from "@zlabs/kit";
import { checkService, dashboardOptions, LAB, serviceConfig } from "../internal/config.ts";
import { SocDashboard } from "../internal/soc-dashboard.ts";

runRole(
  {
    lab: LAB,
    role: "soc-dashboard",
    describe: "the SOC's web page through lab16's bridge: alerts, rates per stage, services",
    options: dashboardOptions,
    check: checkService,
  },
  (c, log, signal) =>
    new SocDashboard({ service: serviceConfig("soc-dashboard", c), port: c.port, httpPort: c.httpPort }, log, publishView).run(signal),
);
