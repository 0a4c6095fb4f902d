import { publishView, runRole } from "@zlabs/kit";
import { checkService, gatewayConfig, gatewayOptions, LAB } from "../internal/config.ts";
import { IngestGateway } from "../internal/ingest-gateway.ts";

runRole(
  {
    lab: LAB,
    role: "ingest-gateway",
    describe: "ingest: HTTP POST /api/events and a ZeroMQ PULL, acknowledged once the pipeline is done",
    options: gatewayOptions,
    check: checkService,
  },
  (config, log, signal) => new IngestGateway(gatewayConfig(config), log, publishView).run(signal),
);
