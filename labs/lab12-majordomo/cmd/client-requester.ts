import { publishView, runRole } from "@zlabs/kit";
import { runRequester } from "../internal/client-requester.ts";
import { checkClient, clientOptions, LAB, requesterConfig } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "client-requester",
    describe: "an analyst's tool: asks echo, intel.hash and mmi.service through the broker",
    options: clientOptions,
    check: checkClient,
  },
  (config, log, signal) => runRequester(requesterConfig(config), log, signal, { publish: publishView }),
);
