import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { checkDevice, deviceConfig, deviceOptions, LAB } from "../internal/config.ts";
import { FieldDevice } from "../internal/field-device.ts";
import { Outbox } from "../internal/outbox.ts";

const role = "field-device";
const describe = "takes readings and delivers each one exactly once, failing over between receivers";
const { device, outboxDir, capacity } = deviceConfig(parseConfig({ lab: LAB, role, describe, options: deviceOptions, check: checkDevice }));
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new FieldDevice(device, new Outbox(outboxDir, capacity), log, publishView).run(signal));
