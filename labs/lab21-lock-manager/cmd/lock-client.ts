import { publishView, runRole } from "@zlabs/kit";
import { checkClient, clientConfig, clientOptions, LAB } from "../internal/config.ts";
import { Writer } from "../internal/lock-client.ts";

runRole(
  {
    lab: LAB,
    role: "lock-client",
    describe: "a writer: takes the lock, writes to the ledger under its token, releases",
    options: clientOptions,
    check: checkClient,
  },
  (config, log, signal) => new Writer(clientConfig(config), log, { publish: publishView }).run(signal),
);
