import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { LogCollector } from "../internal/collector.ts";
import { checkCollector, collectorOptions, LAB } from "../internal/config.ts";
import { InputError, inputFiles } from "../internal/input.ts";

const config = parseConfig({
  lab: LAB,
  role: "log-collector",
  describe: "reads a log file and pushes its lines to the parsers (PUSH), one batch, then exits",
  options: collectorOptions,
  check: checkCollector,
});
const log = createLogger({ lab: LAB, role: "log-collector" });

runMain(log, async (signal) => {
  const files = await inputFiles(config.input, config.spoolDir, config.sample, log).catch((err: Error) => {
    if (err instanceof InputError) return err;
    throw err;
  });
  if (files instanceof InputError) {
    log.error(files.message);
    return 2;
  }
  const collector = new LogCollector(
    {
      bind: config.bind,
      writer: config.writer,
      bus: config.bus,
      linesPerChunk: config.chunkLines,
      windowLines: config.window,
      minParsers: config.minParsers,
    },
    log,
  );
  const stats = await collector.collect(files, signal);
  return stats ? 0 : 1;
});
