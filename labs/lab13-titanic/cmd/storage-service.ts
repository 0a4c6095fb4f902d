import { publishView, runRole } from "@zlabs/kit";
import { checkService, LAB, storageConfig, storageOptions } from "../internal/config.ts";
import { StorageService } from "../internal/storage-service.ts";

runRole(
  {
    lab: LAB,
    role: "storage-service",
    describe: "evidence archive: an MDP worker storing artefacts, answering their SHA-256",
    options: storageOptions,
    check: checkService,
  },
  (config, log, signal) => new StorageService(storageConfig(config), log, { publish: publishView }).run(signal),
);
