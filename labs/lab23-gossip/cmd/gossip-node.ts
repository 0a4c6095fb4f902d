import { publishView, runRole } from "@zlabs/kit";
import { checkNode, LAB, nodeConfig, nodeOptions } from "../internal/config.ts";
import { GossipNode } from "../internal/gossip-node.ts";

runRole(
  {
    lab: LAB,
    role: "gossip-node",
    describe: "a node of the gossip mesh (SWIM, LWW map, anti-entropy, Berkeley)",
    options: nodeOptions,
    check: checkNode,
  },
  (config, log, signal) => new GossipNode(nodeConfig(config), log, { publish: publishView }).run(signal),
);
