import { publishView, runRole } from "@zlabs/kit";
import { LAB, loadConfig, loadOptions } from "../internal/config.ts";
import { LoadClient } from "../internal/load-client.ts";

runRole(
  { lab: LAB, role: "load-client", describe: "card transactions at a steady pace to the gateway", options: loadOptions },
  (config, log, signal) => new LoadClient(loadConfig(config), log, publishView).run(signal),
);
