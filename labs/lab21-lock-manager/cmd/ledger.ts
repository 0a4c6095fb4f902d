import { publishView, runRole } from "@zlabs/kit";
import { checkLedger, LAB, ledgerConfig, ledgerOptions } from "../internal/config.ts";
import { Ledger } from "../internal/ledger.ts";

runRole(
  {
    lab: LAB,
    role: "ledger",
    describe: "the protected resource: a ledger file that takes writes only under the current fencing token",
    options: ledgerOptions,
    check: checkLedger,
  },
  (config, log, signal) => new Ledger(ledgerConfig(config), log, { publish: publishView }).run(signal),
);
