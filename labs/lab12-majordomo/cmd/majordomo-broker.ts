import { publishView, runRole } from "@zlabs/kit";
import { brokerConfig, brokerOptions, LAB } from "../internal/config.ts";
import { MajordomoBroker } from "../internal/majordomo-broker.ts";

runRole(
  {
    lab: LAB,
    role: "majordomo-broker",
    describe: "Majordomo broker (MDP/0.1 + MMI), one ROUTER for clients and workers",
    options: brokerOptions,
  },
  (config, log, signal) => new MajordomoBroker(brokerConfig(config), log, { publish: publishView }).run(signal),
);
