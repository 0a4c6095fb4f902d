import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { runAdmin } from "../internal/admin.ts";
import { LazyPirateClient } from "../internal/client.ts";
import { CLI_USAGE, checkCli, cliOptions, LAB } from "../internal/config.ts";

const config = parseConfig({
  lab: LAB,
  role: "admin-cli",
  describe: "asks a node agent about its host (REQ, Lazy Pirate: timeout, fresh socket, retries)",
  positionals: CLI_USAGE,
  options: cliOptions,
  check: checkCli,
});
// stdout carries the answer (a table, or JSON for a pipe); the log goes to stderr.
const log = createLogger({ lab: LAB, role: "admin-cli", stream: "stderr" });
const cmd = config._[0] as string;
const args = { ps: { limit: config.limit, sort: config.sort }, disk: config.path ? { path: config.path } : {} }[cmd] ?? {};

runMain(log, (signal) =>
  runAdmin(
    new LazyPirateClient({ endpoint: config.connect, timeoutMs: config.timeout, retries: config.retries }, log),
    { cmd, args, json: config.json, watchSec: config.watch },
    (text) => process.stdout.write(`${text}\n`),
    log,
    signal,
  ),
);
