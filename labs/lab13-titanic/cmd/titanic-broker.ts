import { publishView, runRole } from "@zlabs/kit";
import { LAB, titanicConfig, titanicOptions } from "../internal/config.ts";
import { TitanicBroker } from "../internal/titanic-broker.ts";

runRole(
  {
    lab: LAB,
    role: "titanic-broker",
    describe: "Titanic (RFC 9/TSP): titanic.request/reply/close workers + dispatcher over a journal",
    options: titanicOptions,
  },
  (config, log, signal) => new TitanicBroker(titanicConfig(config), log, { publish: publishView }).run(signal),
);
