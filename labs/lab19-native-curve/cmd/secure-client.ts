import { publishView, runRole } from "@zlabs/kit";
import { checkClient, clientConfig, clientOptions, LAB } from "../internal/config.ts";
import { SecureClient } from "../internal/secure-client.ts";

runRole(
  {
    lab: LAB,
    role: "secure-client",
    describe: "asks the server about file hashes over CURVE; gives up on a failing handshake",
    options: clientOptions,
    check: checkClient,
  },
  (config, log, signal) => new SecureClient(clientConfig(config), log, { publish: publishView }).run(signal),
);
