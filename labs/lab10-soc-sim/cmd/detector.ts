import { publishView, runRole } from "@zlabs/kit";
import { checkService, DETECT_SERVICE, detectorOptions, LAB, serviceConfig } from "../internal/config.ts";
import { Detector } from "../internal/detector.ts";

runRole(
  {
    lab: LAB,
    role: "detector",
    describe: "MDP worker for soc.detect: intel matches, port scans, rates, outliers",
    options: detectorOptions,
    check: checkService,
  },
  (c, log, signal) =>
    new Detector(
      {
        service: serviceConfig("detector", c),
        detectService: DETECT_SERVICE,
        heartbeatMs: c.heartbeat,
        liveness: c.liveness,
        reconnectMs: c.reconnect,
      },
      log,
      publishView,
    ).run(signal),
);
