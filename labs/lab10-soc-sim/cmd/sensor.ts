import { publishView, runRole } from "@zlabs/kit";
import { checkService, LAB, sensorConfig, sensorOptions } from "../internal/config.ts";
import { Sensor } from "../internal/sensor.ts";

runRole(
  {
    lab: LAB,
    role: "sensor",
    describe: "a capturing node: flow records to the gateways, and now and then a port scan",
    options: sensorOptions,
    check: checkService,
  },
  (config, log, signal) => new Sensor(sensorConfig(config), log, publishView).run(signal),
);
