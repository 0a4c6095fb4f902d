import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { brokerConfig, brokerSpec, LAB } from "../internal/config.ts";
import { LvcBroker } from "../internal/lvc-broker.ts";

const config = brokerConfig(parseConfig(brokerSpec));
const log = createLogger({ lab: LAB, role: brokerSpec.role });

runMain(log, (signal) => new LvcBroker(config, log).run(signal));
