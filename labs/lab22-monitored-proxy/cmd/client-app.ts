import { publishView, runRole } from "@zlabs/kit";
import { ClientApp } from "../internal/client-app.ts";
import { checkClient, clientConfig, clientOptions, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "client-app",
    describe: "asks for customer records through the proxy (REQ)",
    options: clientOptions,
    check: checkClient,
  },
  (config, log, signal) => new ClientApp(clientConfig(config), log, publishView).run(signal),
);
