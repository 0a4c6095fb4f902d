import { createLogger, OnceStore, parseConfig, runMain } from "@zlabs/kit";
import { ArchivalWorker } from "../internal/archivist.ts";
import { archivistOptions, checkArchivist, LAB } from "../internal/config.ts";

const config = parseConfig({
  lab: LAB,
  role: "archival-worker",
  describe: "stores audit records durably, once each (DEALER)",
  options: archivistOptions,
  check: checkArchivist,
});
const log = createLogger({ lab: LAB, role: "archival-worker" });

runMain(log, (signal) =>
  new ArchivalWorker({ id: config.id, gateway: config.gateway, delayMs: config.delay }, new OnceStore(config.archive), log).run(signal),
);
