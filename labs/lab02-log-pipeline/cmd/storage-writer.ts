import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { checkWriter, LAB, writerOptions } from "../internal/config.ts";
import { StorageWriter } from "../internal/writer.ts";

const config = parseConfig({
  lab: LAB,
  role: "storage-writer",
  describe: "stores parsed events as rotating NDJSON files, each exactly once (PULL, PUB)",
  options: writerOptions,
  check: checkWriter,
});
const log = createLogger({ lab: LAB, role: "storage-writer" });

runMain(log, async (signal) => {
  const writer = new StorageWriter(
    {
      bind: config.bind,
      bus: config.bus,
      outDir: config.out,
      rotateBytes: Math.round(config.rotateMb * 1024 * 1024),
      missingAfterMs: config.missingAfter,
      killWorkers: config.kill,
      once: config.once,
    },
    log,
  );
  await writer.run(signal);
});
