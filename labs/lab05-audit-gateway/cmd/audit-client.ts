import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { AuditClient } from "../internal/client.ts";
import { checkClient, clientOptions, LAB } from "../internal/config.ts";

const config = parseConfig({
  lab: LAB,
  role: "audit-client",
  describe: "sends audit records with many in flight (DEALER) until each is acknowledged",
  options: clientOptions,
  check: checkClient,
});
const log = createLogger({ lab: LAB, role: "audit-client" });

runMain(log, async (signal) => {
  const stats = await new AuditClient(
    { id: config.id, gateway: config.gateway, records: config.records, inflight: config.inflight, timeoutMs: config.timeout },
    log,
  ).run(signal);
  return stats.errors > 0 ? 1 : 0;
});
