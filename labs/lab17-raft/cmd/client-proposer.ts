import { publishView, runRole } from "@zlabs/kit";
import { ClientProposer } from "../internal/client-proposer.ts";
import { checkProposer, LAB, proposerConfig, proposerOptions } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "client-proposer",
    describe: "writes and reads policies through the Raft leader",
    options: proposerOptions,
    check: checkProposer,
  },
  (config, log, signal) => new ClientProposer(proposerConfig(config), log, { publish: publishView }).run(signal),
);
