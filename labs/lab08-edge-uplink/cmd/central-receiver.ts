import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { CentralReceiver } from "../internal/central-receiver.ts";
import { LAB, receiverConfig, receiverOptions } from "../internal/config.ts";

const role = "central-receiver";
const describe = "Paranoid Pirate queue: devices on one ROUTER, workers on another";
const config = receiverConfig(parseConfig({ lab: LAB, role, describe, options: receiverOptions }));
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new CentralReceiver(config, log, { publish: publishView }).run(signal));
