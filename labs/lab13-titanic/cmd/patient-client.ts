import { publishView, runRole } from "@zlabs/kit";
import { checkService, LAB, patientConfig, patientOptions } from "../internal/config.ts";
import { PatientClient } from "../internal/patient-client.ts";

runRole(
  {
    lab: LAB,
    role: "patient-client",
    describe: "TSP client: submits through Titanic, keeps its uuids on disk, polls, closes",
    options: patientOptions,
    check: checkService,
  },
  (config, log, signal) => new PatientClient(patientConfig(config), log, { publish: publishView }).run(signal),
);
