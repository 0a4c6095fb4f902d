import { publishView, runRole } from "@zlabs/kit";
import { startServer } from "../internal/c2-server-main.ts";
import { checkServer, LAB, serverOptions } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "c2-server",
    describe: "Ironhouse C2 server: CURVE ROUTER, ZAP handler, certificate store",
    options: serverOptions,
    check: checkServer,
  },
  (a, log, signal) => startServer(a, log, signal, publishView),
);
