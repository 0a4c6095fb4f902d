import { runRole, viewModeFrom } from "@zlabs/kit";
import { runAdmin } from "../internal/admin-cli.ts";
import { LazyPirateClient } from "../internal/client.ts";
import { CLI_USAGE, checkCli, cliConfig, cliOptions, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "admin-cli",
    describe: "asks a node agent about its host (REQ, Lazy Pirate: timeout, fresh socket, retries)",
    positionals: CLI_USAGE,
    options: cliOptions,
    check: checkCli,
    // stdout carries the answer (a table, or JSON for a pipe); the log goes to stderr.
    logStream: "stderr",
  },
  (config, log, signal) => {
    const { client, query } = cliConfig(config);
    // Under the demo the live view shows every answer: the tables would only flood the log.
    const printAnswers = viewModeFrom() !== "ipc";
    return runAdmin(new LazyPirateClient(client, log), query, (text) => process.stdout.write(`${text}\n`), log, signal, { printAnswers });
  },
);
