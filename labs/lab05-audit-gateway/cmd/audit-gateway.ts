import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { AuditGateway } from "../internal/audit-gateway.ts";
import { gatewayConfig, gatewayOptions, LAB } from "../internal/config.ts";

const role = "audit-gateway";
const config = parseConfig({
  lab: LAB,
  role,
  describe: "ROUTER for clients, DEALER to archivists, bounded in-flight work",
  options: gatewayOptions,
});
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new AuditGateway(gatewayConfig(config), log, { publish: publishView }).run(signal));
