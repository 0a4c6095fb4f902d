import { runRole } from "@zlabs/kit";
import { generateConfig, generateOptions, LAB } from "../internal/config.ts";
import { generateLogs } from "../internal/generate-logs.ts";

runRole(
  {
    lab: LAB,
    role: "generate-logs",
    describe: "writes realistic sample logs with PII (syslog, access logs, JSON lines) for the demo and the benchmark",
    options: generateOptions,
    // stdout may carry the lines; the log goes to stderr.
    logStream: "stderr",
  },
  (config, log, signal) => generateLogs(generateConfig(config), log, signal),
);
