import { publishView, runRole } from "@zlabs/kit";
import { Auditor } from "../internal/auditor.ts";
import { auditorConfig, auditorOptions, LAB } from "../internal/config.ts";

runRole(
  { lab: LAB, role: "auditor", describe: "reads the proxy's capture tap: who asked for which customer (SUB)", options: auditorOptions },
  (config, log, signal) => new Auditor(auditorConfig(config), log, publishView).run(signal),
);
