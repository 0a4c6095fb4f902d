import { runRole } from "@zlabs/kit";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { checkParser, LAB, parserConfig, parserOptions } from "../internal/config.ts";
import { LogParser } from "../internal/log-parser.ts";

runRole(
  {
    lab: LAB,
    role: "log-parser",
    describe: "parses and anonymises log lines (PULL → PUSH) until the writer says KILL",
    options: parserOptions,
    check: checkParser,
  },
  (config, log, signal) => {
    const { key, ...parser } = parserConfig(config);
    return new LogParser(parser, new Pseudonymizer(key), log).run(signal);
  },
);
