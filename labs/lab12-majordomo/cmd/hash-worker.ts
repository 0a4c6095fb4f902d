import { publishView, runRole } from "@zlabs/kit";
import { checkService, hashConfig, hashOptions, LAB } from "../internal/config.ts";
import { runHashWorker } from "../internal/hash-worker.ts";

runRole(
  {
    lab: LAB,
    role: "hash-worker",
    describe: "MDP worker: file-hash reputation lookups from a local table",
    options: hashOptions,
    check: checkService,
  },
  (config, log, signal) => runHashWorker(hashConfig(config), log, signal, { publish: publishView }),
);
