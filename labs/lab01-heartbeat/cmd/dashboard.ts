import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { dashboardConfig, dashboardLogLevel, dashboardSpec, LAB } from "../internal/config.ts";
import { Dashboard } from "../internal/dashboard.ts";

const config = dashboardConfig(parseConfig(dashboardSpec), Boolean(process.stdout.isTTY));
const log = createLogger({ lab: LAB, role: dashboardSpec.role, ...dashboardLogLevel(config) });

runMain(log, (signal) => new Dashboard(config, log).run(signal));
