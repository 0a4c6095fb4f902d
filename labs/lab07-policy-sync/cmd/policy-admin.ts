import { publishView, runRole } from "@zlabs/kit";
import { adminConfig, adminOptions, checkAdmin, LAB } from "../internal/config.ts";
import { PolicyAdmin } from "../internal/policy-admin.ts";

runRole(
  {
    lab: LAB,
    role: "policy-admin",
    describe: "sets and deletes rules (with a ttl), checks flows at the firewall nodes",
    options: adminOptions,
    check: checkAdmin,
  },
  (config, log, signal) => new PolicyAdmin(adminConfig(config), log, { publish: publishView }).run(signal),
);
