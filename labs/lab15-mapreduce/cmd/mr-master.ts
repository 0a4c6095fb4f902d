import { publishView, runRole } from "@zlabs/kit";
import { checkMaster, LAB, masterConfig, masterOptions } from "../internal/config.ts";
import { MrMaster } from "../internal/mr-master.ts";

const describe = "MapReduce master: ventilator (ROUTER) and sink (PULL)";
runRole({ lab: LAB, role: "mr-master", describe, options: masterOptions, check: checkMaster }, (config, log, signal) =>
  new MrMaster(masterConfig(config), log, { publish: publishView }).run(signal),
);
