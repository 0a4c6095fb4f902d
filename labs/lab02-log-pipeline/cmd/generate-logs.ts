import { createWriteStream } from "node:fs";
import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { LAB } from "../internal/config.ts";
import { writeSampleLogs } from "../internal/generator.ts";

const config = parseConfig({
  lab: LAB,
  role: "generate-logs",
  describe: "writes realistic sample logs with PII (syslog, access logs, JSON lines) for the demo and the benchmark",
  options: {
    lines: { type: "number", default: 10_000, describe: "how many lines" },
    seed: { type: "number", default: 1, describe: "same seed, same lines" },
    out: { type: "string", default: "-", describe: 'file to write, or "-" for stdout' },
  },
  check: (a) => (!Number.isInteger(a.lines) || a.lines < 0 ? "--lines must be a whole number" : undefined),
});
const log = createLogger({ lab: LAB, role: "generate-logs", stream: "stderr" });

runMain(log, async (signal) => {
  const out = config.out === "-" ? process.stdout : createWriteStream(config.out);
  await writeSampleLogs(out, config.lines, config.seed, signal);
  if (out !== process.stdout) await new Promise<void>((done) => out.end(() => done()));
  log.info({ lines: config.lines, out: config.out }, "sample logs written");
});
