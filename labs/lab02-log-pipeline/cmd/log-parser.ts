import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { checkParser, LAB, parserOptions } from "../internal/config.ts";
import { LogParser } from "../internal/parser.ts";

const config = parseConfig({
  lab: LAB,
  role: "log-parser",
  describe: "parses and anonymises log lines (PULL → PUSH) until the writer says KILL",
  options: parserOptions,
  check: checkParser,
});
const log = createLogger({ lab: LAB, role: "log-parser" });

runMain(log, async (signal) => {
  const parser = new LogParser(
    { id: config.id, work: config.work, results: config.results, bus: config.bus, parse: config.parse, delayMs: config.delay },
    new Pseudonymizer(config.key),
    log,
  );
  await parser.run(signal);
});
