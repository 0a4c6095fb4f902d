import { createLogger, parseConfig, publishView, runMain } from "@zlabs/kit";
import { AuditClient, exitCodeOf } from "../internal/audit-client.ts";
import { checkClient, clientConfig, clientOptions, LAB } from "../internal/config.ts";

const role = "audit-client";
const describe = "sends audit records with many in flight (DEALER): so many, each acknowledged, or until stopped";
const config = clientConfig(parseConfig({ lab: LAB, role, describe, options: clientOptions, check: checkClient }));
const log = createLogger({ lab: LAB, role });

runMain(log, async (signal) => exitCodeOf(await new AuditClient(config, log, publishView).run(signal)));
