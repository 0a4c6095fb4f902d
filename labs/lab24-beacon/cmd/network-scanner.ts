import { publishView, runRole } from "@zlabs/kit";
import { checkScanner, LAB, scannerConfig, scannerOptions } from "../internal/config.ts";
import { NetworkScanner } from "../internal/network-scanner.ts";

runRole(
  {
    lab: LAB,
    role: "network-scanner",
    describe: "discovers devices by their beacons; talks CURVE REQ-REP only to trusted ones",
    options: scannerOptions,
    check: checkScanner,
  },
  (config, log, signal) => new NetworkScanner(scannerConfig(config), log, { publish: publishView }).run(signal),
);
