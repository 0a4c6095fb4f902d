import { publishView, runRole } from "@zlabs/kit";
import { LAB, mapConfig, mapOptions } from "../internal/config.ts";
import { MapWorker } from "../internal/map-worker.ts";

const describe = "map worker: maps a split, combines, partitions by key hash";
runRole({ lab: LAB, role: "map-worker", describe, options: mapOptions }, (config, log, signal) =>
  new MapWorker(mapConfig(config), log, { publish: publishView }).run(signal),
);
