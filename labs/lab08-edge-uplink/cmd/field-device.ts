import { join } from "node:path";
import { createLogger, listOption, parseConfig, runMain } from "@zlabs/kit";
import { checkDevice, deviceOptions, LAB } from "../internal/config.ts";
import { FieldDevice } from "../internal/device.ts";
import { Outbox } from "../internal/outbox.ts";

const config = parseConfig({
  lab: LAB,
  role: "field-device",
  describe: "takes readings and delivers each one exactly once, failing over between receivers",
  options: deviceOptions,
  check: checkDevice,
});
const log = createLogger({ lab: LAB, role: "field-device" });

runMain(log, (signal) =>
  new FieldDevice(
    {
      id: config.id,
      receivers: listOption(config.receiver),
      intervalMs: config.interval,
      timeoutMs: config.timeout,
      breakerThreshold: config.breakerThreshold,
      coolDownMs: config.coolDown,
      count: config.count,
    },
    new Outbox(config.outbox ?? join(".store", "outbox", config.id), config.capacity),
    log,
  ).run(signal),
);
