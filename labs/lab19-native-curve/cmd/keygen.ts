import { runRole } from "@zlabs/kit";
import { keygenConfig, keygenOptions, LAB } from "../internal/config.ts";
import { runKeygen } from "../internal/keygen.ts";

runRole(
  {
    lab: LAB,
    role: "keygen",
    describe: "write zcert CURVE certificate pairs (name.key, name.key_secret 0600)",
    options: keygenOptions,
    positionals: "<name...>",
    logStream: "stderr",
  },
  async (config, log) => {
    await runKeygen(keygenConfig(config), log, (line) => process.stdout.write(`${line}\n`));
  },
);
