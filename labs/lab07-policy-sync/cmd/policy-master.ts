import { publishView, runRole } from "@zlabs/kit";
import { checkMaster, LAB, masterConfig, masterOptions } from "../internal/config.ts";
import { PolicyMaster } from "../internal/policy-master.ts";

runRole(
  {
    lab: LAB,
    role: "policy-master",
    describe: "CHP server of a Binary Star pair (--role primary or backup)",
    options: masterOptions,
    check: checkMaster,
  },
  (config, log, signal) => new PolicyMaster(masterConfig(config), log, { publish: publishView }).run(signal),
);
