export * from "./deadline.ts";
export * from "./endpoints.ts";
export * from "./faults.ts";
export * from "./fuzz.ts";
export * from "./process.ts";
export * from "./python.ts";
export * from "./raw-subscriber.ts";
export * from "./tasks.ts";
