import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { checkWorker, LAB, workerOptions } from "../internal/config.ts";
import { ReadingStore } from "../internal/store.ts";
import { IngestWorker } from "../internal/worker.ts";

const config = parseConfig({
  lab: LAB,
  role: "ingest-worker",
  describe: "Paranoid Pirate worker: stores readings, heartbeats, reconnects with back-off",
  options: workerOptions,
  check: checkWorker,
});
const log = createLogger({ lab: LAB, role: "ingest-worker" });

runMain(log, (signal) =>
  new IngestWorker(
    {
      id: config.id,
      queue: config.queue,
      heartbeatMs: config.heartbeat,
      liveness: config.liveness,
      backoffInitMs: config.backoff,
      backoffMaxMs: config.backoffMax,
      delayMs: config.delay,
    },
    new ReadingStore(config.store),
    log,
  ).run(signal),
);
