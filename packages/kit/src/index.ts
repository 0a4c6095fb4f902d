/** What a role needs at run time. Test helpers are in "@zlabs/kit/testing"; the CLI's tooling is private. */
export * from "./codec.ts";
export * from "./config.ts";
export * from "./durable.ts";
export * from "./lifecycle.ts";
export * from "./limits.ts";
export * from "./log.ts";
export * from "./loops.ts";
export * from "./once-store.ts";
export * from "./random.ts";
export * from "./reconnect.ts";
export * from "./role.ts";
export * from "./send-queue.ts";
export * from "./view.ts";
