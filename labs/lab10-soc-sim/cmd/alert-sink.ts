import { publishView, runRole } from "@zlabs/kit";
import { AlertSink } from "../internal/alert-sink.ts";
import { checkService, checkSink, LAB, sinkConfig, sinkOptions } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "alert-sink",
    describe: "alert sink: de-duplicates and stores alerts with an expiry, acknowledges events",
    options: sinkOptions,
    check: (a) => checkService(a) ?? checkSink(a),
  },
  (config, log, signal) => new AlertSink(sinkConfig(config), log, publishView).run(signal),
);
