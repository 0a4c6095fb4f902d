import { runRole } from "@zlabs/kit";
import { runCertTool } from "../internal/cert-tool.ts";
import { CERT_TOOL_USAGE, certToolOptions, LAB, layoutFor } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "cert-tool",
    describe: "create, admit, revoke and list certificates",
    options: certToolOptions,
    positionals: CERT_TOOL_USAGE,
    logStream: "stderr",
  },
  (a) => runCertTool(a._, layoutFor(a.keys), a, (line) => process.stdout.write(`${line}\n`)),
);
