import { publishView, runRole } from "@zlabs/kit";
import { brokerConfig, brokerOptions, LAB } from "../internal/config.ts";
import { HaBroker } from "../internal/ha-broker.ts";

runRole(
  {
    lab: LAB,
    role: "ha-broker",
    describe: "one broker of a Binary Star pair fronting a ticket desk (--role primary|backup)",
    options: brokerOptions,
  },
  (config, log, signal) => new HaBroker(brokerConfig(config), log, { publish: publishView }).run(signal),
);
