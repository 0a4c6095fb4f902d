export * from "./catalog.ts";
export * from "./config.ts";
export * from "./keys.ts";
export * from "./lifecycle.ts";
export * from "./log.ts";
export * from "./manifest.ts";
export * from "./orchestrator.ts";
export * from "./vscode.ts";
