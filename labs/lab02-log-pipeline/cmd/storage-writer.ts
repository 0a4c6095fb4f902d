import { runRole } from "@zlabs/kit";
import { LAB, writerConfig, writerOptions } from "../internal/config.ts";
import { StorageWriter } from "../internal/storage-writer.ts";

runRole(
  {
    lab: LAB,
    role: "storage-writer",
    describe: "stores parsed events as rotating NDJSON files, each exactly once (PULL, PUB)",
    options: writerOptions,
  },
  (config, log, signal) => new StorageWriter(writerConfig(config), log).run(signal),
);
