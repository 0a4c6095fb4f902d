import { runRole } from "@zlabs/kit";
import { CTL_USAGE, checkCtl, ctlConfig, ctlOptions, LAB } from "../internal/config.ts";
import { runCtl } from "../internal/proxy-ctl.ts";

runRole(
  {
    lab: LAB,
    role: "proxy-ctl",
    describe: "steers a proxy: PAUSE, RESUME, TERMINATE, STATISTICS (REQ to its control socket)",
    positionals: CTL_USAGE,
    options: ctlOptions,
    check: checkCtl,
    // stdout carries the answer; the log goes to stderr.
    logStream: "stderr",
  },
  (config, log, signal) => runCtl(ctlConfig(config), log, (text) => process.stdout.write(`${text}\n`), signal),
);
