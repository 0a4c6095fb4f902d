import { publishView, runRole } from "@zlabs/kit";
import { checkService, enricherConfig, enricherOptions, LAB } from "../internal/config.ts";
import { EventEnricher } from "../internal/event-enricher.ts";

runRole(
  {
    lab: LAB,
    role: "event-enricher",
    describe: "pipeline worker: geo enrichment, verdict from a detector (MDP client), to the alert sink",
    options: enricherOptions,
    check: checkService,
  },
  (config, log, signal) => new EventEnricher(enricherConfig(config), log, publishView).run(signal),
);
