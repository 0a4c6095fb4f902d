// The alert-store contract (infra's suite) against the built-in memory store.
import { MemoryAlertStore } from "../internal/alert-store-memory.ts";
import { describeAlertStoreContract } from "./support/alert-store-contract.ts";

describeAlertStoreContract("memory", async () => new MemoryAlertStore());
