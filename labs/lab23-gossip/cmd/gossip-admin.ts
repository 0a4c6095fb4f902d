import { runRole } from "@zlabs/kit";
import { ADMIN_USAGE, adminOptions, checkAdmin, LAB } from "../internal/config.ts";
import { adminConfig, GossipAdmin } from "../internal/gossip-admin.ts";

runRole(
  {
    lab: LAB,
    role: "gossip-admin",
    describe: "set, delete and read keys on a gossip node, or write random keys (--every)",
    options: adminOptions,
    positionals: ADMIN_USAGE,
    check: checkAdmin,
    logStream: "stderr",
  },
  (config, log, signal) => new GossipAdmin(adminConfig(config), log).run(signal),
);
