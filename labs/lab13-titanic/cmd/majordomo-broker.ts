import { endpointOption, publishView, runRole } from "@zlabs/kit";
import { brokerConfig, brokerOptions, MajordomoBroker } from "lab12/broker";
import { BROKER, LAB } from "../internal/config.ts";

// lab12's broker, unchanged, run as a role of this lab on lab13's port.
const options = { ...brokerOptions, endpoint: endpointOption(BROKER, "ROUTER endpoint for clients and workers (Titanic is both)") };

runRole(
  { lab: LAB, role: "majordomo-broker", describe: "lab12's Majordomo broker (RFC 7/MDP + RFC 8/MMI)", options },
  (config, log, signal) => new MajordomoBroker(brokerConfig(config), log, { publish: publishView }).run(signal),
);
