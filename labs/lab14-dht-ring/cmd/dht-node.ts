import { publishView, runRole } from "@zlabs/kit";
import { checkNode, LAB, nodeConfig, nodeOptions } from "../internal/config.ts";
import { DhtNode } from "../internal/dht-node.ts";

runRole(
  {
    lab: LAB,
    role: "dht-node",
    describe: "a ring node: ROUTER mailbox, a DEALER per peer, UDP beacons, keys by consistent hashing",
    options: nodeOptions,
    check: checkNode,
  },
  (config, log, signal) => new DhtNode(nodeConfig(config), log, { publish: publishView }).run(signal),
);
