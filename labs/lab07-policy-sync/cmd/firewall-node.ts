import { publishView, runRole } from "@zlabs/kit";
import { checkNode, LAB, nodeConfig, nodeOptions } from "../internal/config.ts";
import { FirewallNode } from "../internal/firewall-node.ts";

runRole(
  {
    lab: LAB,
    role: "firewall-node",
    describe: "CHP clone client enforcing one subtree of rules; answers checks on REP",
    options: nodeOptions,
    check: checkNode,
  },
  (config, log, signal) => new FirewallNode(nodeConfig(config), log, { publish: publishView }).run(signal),
);
