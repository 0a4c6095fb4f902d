import { publishView, runRole } from "@zlabs/kit";
import { checkProxy, LAB, proxyConfig, proxyOptions } from "../internal/config.ts";
import { MonitoredProxy } from "../internal/monitored-broker.ts";

runRole(
  {
    lab: LAB,
    role: "monitored-broker",
    describe: "audited ROUTER-DEALER proxy: capture, steering, monitor events",
    options: proxyOptions,
    check: checkProxy,
  },
  (config, log, signal) => new MonitoredProxy(proxyConfig(config), log, { publish: publishView }).run(signal),
);
