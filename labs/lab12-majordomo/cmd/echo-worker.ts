import { publishView, runRole } from "@zlabs/kit";
import { checkService, echoConfig, echoOptions, LAB } from "../internal/config.ts";
import { echoService, runServiceWorker } from "../internal/echo-worker.ts";

runRole(
  {
    lab: LAB,
    role: "echo-worker",
    describe: "MDP worker of the echo service (replies with the request)",
    options: echoOptions,
    check: checkService,
  },
  (config, log, signal) => runServiceWorker(echoConfig(config), log, signal, echoService(log), { publish: publishView }),
);
