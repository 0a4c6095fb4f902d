import { publishView, runRole } from "@zlabs/kit";
import { checkService, intelConfig, intelOptions, LAB } from "../internal/config.ts";
import { IntelFeed } from "../internal/intel-feed.ts";

runRole(
  {
    lab: LAB,
    role: "intel-feed",
    describe: "threat intel: indicators on a PUB, topics intel.ip, intel.domain, intel.hash",
    options: intelOptions,
    check: checkService,
  },
  (config, log, signal) => new IntelFeed(intelConfig(config), log, publishView).run(signal),
);
