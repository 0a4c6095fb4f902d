import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { checkWorker, LAB, workerConfig, workerOptions } from "../internal/config.ts";
import { IngestWorker } from "../internal/ingest-worker.ts";
import { ReadingStore } from "../internal/store.ts";

const role = "ingest-worker";
const describe = "Paranoid Pirate worker: stores readings, heartbeats, reconnects with back-off";
const { worker, storeDir, keep } = workerConfig(parseConfig({ lab: LAB, role, describe, options: workerOptions, check: checkWorker }));
const log = createLogger({ lab: LAB, role });

runMain(log, (signal) => new IngestWorker(worker, new ReadingStore(storeDir, keep), log, publishView).run(signal));
