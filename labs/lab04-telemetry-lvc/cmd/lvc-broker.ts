import { createLogger, listOption, parseConfig, runMain } from "@zlabs/kit";
import { LvcBroker } from "../internal/broker.ts";
import { brokerOptions, checkBroker, LAB } from "../internal/config.ts";

const config = parseConfig({
  lab: LAB,
  role: "lvc-broker",
  describe: "XSUB-XPUB proxy with a Last Value Cache",
  options: brokerOptions,
  check: checkBroker,
});
const log = createLogger({ lab: LAB, role: "lvc-broker" });

runMain(log, (signal) =>
  new LvcBroker(
    {
      front: config.front,
      back: config.back,
      maxTopics: config.maxTopics,
      maxAgeMs: config.maxAge,
      publishers: listOption(config.publisher),
    },
    log,
  ).run(signal),
);
