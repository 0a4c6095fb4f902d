import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { checkReceiver, LAB, receiverOptions } from "../internal/config.ts";
import { CentralReceiver } from "../internal/receiver.ts";

const config = parseConfig({
  lab: LAB,
  role: "central-receiver",
  describe: "Paranoid Pirate queue: devices on one ROUTER, workers on another",
  options: receiverOptions,
  check: checkReceiver,
});
const log = createLogger({ lab: LAB, role: "central-receiver" });

runMain(log, (signal) =>
  new CentralReceiver({ front: config.front, back: config.back, heartbeatMs: config.heartbeat, liveness: config.liveness }, log).run(
    signal,
  ),
);
