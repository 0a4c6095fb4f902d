import { publishView, runRole } from "@zlabs/kit";
import { checkServer, LAB, serverConfig, serverOptions } from "../internal/config.ts";
import { LockServer } from "../internal/lock-server.ts";

runRole(
  {
    lab: LAB,
    role: "lock-server",
    describe: "lock server: leases, FIFO waiters, fencing tokens (ROUTER)",
    options: serverOptions,
    check: checkServer,
  },
  (config, log, signal) => new LockServer(serverConfig(config), log, { publish: publishView }).run(signal),
);
