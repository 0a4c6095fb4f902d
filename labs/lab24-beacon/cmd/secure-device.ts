import { publishView, runRole, userPath } from "@zlabs/kit";
import { checkDevice, deviceConfig, deviceOptions, LAB } from "../internal/config.ts";
import { writeSigningKey } from "../internal/keys.ts";
import { SecureDevice } from "../internal/secure-device.ts";

runRole(
  {
    lab: LAB,
    role: "secure-device",
    describe: "a device: CURVE REP, and a ZRE beacon every second",
    options: deviceOptions,
    check: checkDevice,
  },
  async (config, log, signal) => {
    if (config.newSigningKey !== undefined) {
      process.stdout.write(`${await writeSigningKey(userPath(config.newSigningKey))}\n`);
      return 0;
    }
    return new SecureDevice(deviceConfig(config), log, { publish: publishView }).run(signal);
  },
);
