import { createLogger, listOption, parseConfig, runMain } from "@zlabs/kit";
import { checkDashboard, dashboardOptions, LAB, levelsOf } from "../internal/config.ts";
import { Dashboard } from "../internal/dashboard.ts";

const config = parseConfig({
  lab: LAB,
  role: "dashboard",
  describe: "watches agents' heartbeats (SUB) and tracks each as alive / suspect / dead",
  options: dashboardOptions,
  check: checkDashboard,
});
const view = config.view === "auto" ? (process.stdout.isTTY ? "table" : "log") : config.view;
// In table view the screen is redrawn in place; only errors may interrupt it.
const log = createLogger({ lab: LAB, role: "dashboard", ...(view === "table" && !process.env.LOG_LEVEL ? { level: "error" } : {}) });

runMain(log, async (signal) => {
  const dashboard = new Dashboard(
    {
      connect: listOption(config.connect),
      racks: listOption(config.rack),
      levels: levelsOf(config.level),
      liveness: config.liveness,
      view,
      statusEveryMs: config.statusEvery,
    },
    log,
  );
  await dashboard.run(signal);
});
