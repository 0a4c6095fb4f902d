import { publishView, runRole } from "@zlabs/kit";
import { LAB, serverConfig, serverOptions } from "../internal/config.ts";
import { SecureServer } from "../internal/secure-server.ts";

runRole(
  { lab: LAB, role: "secure-server", describe: "threat-intel lookups over CURVE (ROUTER, curveServer)", options: serverOptions },
  (config, log, signal) => new SecureServer(serverConfig(config), log, { publish: publishView }).run(signal),
);
