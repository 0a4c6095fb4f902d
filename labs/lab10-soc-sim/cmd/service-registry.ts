import { publishView, runRole } from "@zlabs/kit";
import { LAB, registryOptions } from "../internal/config.ts";
import { ServiceRegistry } from "../internal/service-registry.ts";

runRole(
  {
    lab: LAB,
    role: "service-registry",
    describe: "built-in service registry: records under leases (ROUTER, msgpack)",
    options: registryOptions,
  },
  (config, log, signal) => new ServiceRegistry({ endpoint: `tcp://${config.bindHost}:${config.port}` }, log, publishView).run(signal),
);
