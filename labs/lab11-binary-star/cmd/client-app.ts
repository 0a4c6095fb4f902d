import { publishView, runRole } from "@zlabs/kit";
import { ClientApp } from "../internal/client-app.ts";
import { checkClient, clientConfig, clientOptions, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "client-app",
    describe: "takes a ticket a second from the pair, failing over as the Guide's bstarcli",
    options: clientOptions,
    check: checkClient,
  },
  (config, log, signal) => new ClientApp(clientConfig(config), log, { publish: publishView }).run(signal),
);
