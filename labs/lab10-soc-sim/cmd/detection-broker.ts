import { publishView, runRole } from "@zlabs/kit";
import { brokerOptions, checkService, LAB, serviceConfig } from "../internal/config.ts";
import { DetectionBroker } from "../internal/detection-broker.ts";

runRole(
  {
    lab: LAB,
    role: "detection-broker",
    describe: "lab12's Majordomo broker in front of the detectors",
    options: brokerOptions,
    check: checkService,
  },
  (c, log, signal) =>
    new DetectionBroker(
      {
        service: serviceConfig("detection-broker", c),
        port: c.port,
        heartbeatMs: c.heartbeat,
        liveness: c.liveness,
        requestExpiryMs: c.requestExpiry,
        maxWaiting: c.maxWaiting,
      },
      log,
      publishView,
    ).run(signal),
);
