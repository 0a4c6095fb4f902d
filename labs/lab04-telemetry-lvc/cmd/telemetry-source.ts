import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { LAB, sourceConfig, sourceSpec } from "../internal/config.ts";
import { TelemetrySource } from "../internal/telemetry-source.ts";

const config = sourceConfig(parseConfig(sourceSpec));
const log = createLogger({ lab: LAB, role: sourceSpec.role });

runMain(log, (signal) => new TelemetrySource(config, log).run(signal));
