import { createLogger, OnceStore, parseConfig, runMain } from "@zlabs/kit";
import { ArchivalWorker } from "../internal/archival-worker.ts";
import { archivistConfig, archivistOptions, checkArchivist, LAB } from "../internal/config.ts";

const role = "archival-worker";
const options = archivistOptions;
const config = archivistConfig(
  parseConfig({ lab: LAB, role, describe: "stores audit records durably, once each (DEALER)", options, check: checkArchivist }),
);
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new ArchivalWorker(config, new OnceStore(config.archive), log).run(signal));
