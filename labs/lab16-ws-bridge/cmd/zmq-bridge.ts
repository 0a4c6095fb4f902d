import { publishView, runRole } from "@zlabs/kit";
import { bridgeConfig, bridgeOptions, checkBridge, LAB } from "../internal/config.ts";
import { ZmqBridge } from "../internal/zmq-bridge.ts";

const describe = "serves the live operations page and its WebSocket; bridges the feeds' ZeroMQ topics to each browser's subscriptions";
runRole({ lab: LAB, role: "zmq-bridge", describe, options: bridgeOptions, check: checkBridge }, (config, log, signal) =>
  new ZmqBridge(bridgeConfig(config), log, publishView).run(signal),
);
