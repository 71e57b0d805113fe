export * from "./state.js";
export * from "./inject.js";
export * from "./merge.js";
export * from "./adapters.js";
export * from "./walk.js";
export * from "./report.js";
export * from "./weighted.js";
