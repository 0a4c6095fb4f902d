import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { checkGateway, gatewayOptions, LAB } from "../internal/config.ts";
import { AuditGateway } from "../internal/gateway.ts";

const config = parseConfig({
  lab: LAB,
  role: "audit-gateway",
  describe: "ROUTER for clients, DEALER to archivists, bounded in-flight work",
  options: gatewayOptions,
  check: checkGateway,
});
const log = createLogger({ lab: LAB, role: "audit-gateway" });

runMain(log, (signal) =>
  new AuditGateway(
    {
      front: config.front,
      back: config.back,
      maxInflight: config.maxInflight,
      requestTtlMs: config.requestTtl,
      clientTtlMs: config.clientTtl,
    },
    log,
  ).run(signal),
);
