import { publishView, runRole } from "@zlabs/kit";
import { LAB, reduceConfig, reduceOptions } from "../internal/config.ts";
import { ReduceWorker } from "../internal/reduce-worker.ts";

const describe = "reduce worker: reduces one partition, finishes on every map task's end marker";
runRole({ lab: LAB, role: "reduce-worker", describe, options: reduceOptions }, (config, log, signal) =>
  new ReduceWorker(reduceConfig(config), log, { publish: publishView }).run(signal),
);
