import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { dashboardConfig, dashboardSpec, LAB } from "../internal/config.ts";
import { Dashboard } from "../internal/dashboard.ts";

const config = dashboardConfig(parseConfig(dashboardSpec));
const log = createLogger({ lab: LAB, role: dashboardSpec.role });

runMain(log, (signal) => new Dashboard(config, log).run(signal));
