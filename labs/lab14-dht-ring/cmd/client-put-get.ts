import { publishView, runRole } from "@zlabs/kit";
import { DhtClient } from "../internal/client-put-get.ts";
import { clientConfig, clientOptions, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "client-put-get",
    describe: "writes keys to the ring and reads them back, checking every read",
    options: clientOptions,
  },
  async (config, log, signal) => {
    process.exitCode = await new DhtClient(clientConfig(config), log, { publish: publishView }).run(signal);
  },
);
