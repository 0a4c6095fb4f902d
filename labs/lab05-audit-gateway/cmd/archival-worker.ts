import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { ArchivalWorker } from "../internal/archival-worker.ts";
import { Archive } from "../internal/archive.ts";
import { archivistConfig, archivistOptions, checkArchivist, LAB } from "../internal/config.ts";

const role = "archival-worker";
const options = archivistOptions;
const config = archivistConfig(
  parseConfig({ lab: LAB, role, describe: "stores audit records durably, once each (DEALER)", options, check: checkArchivist }),
);
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new ArchivalWorker(config, new Archive(config.archive, config.keep), log, publishView).run(signal));
