import { publishView, runRole } from "@zlabs/kit";
import { checkNode, LAB, nodeConfig, nodeOptions } from "../internal/config.ts";
import { ConsensusNode } from "../internal/consensus-node.ts";

runRole(
  {
    lab: LAB,
    role: "consensus-node",
    describe: "Raft node: PUB-SUB bus to its peers, ROUTER for clients",
    options: nodeOptions,
    check: checkNode,
  },
  (config, log, signal) => new ConsensusNode(nodeConfig(config), log, { publish: publishView }).run(signal),
);
