export * from "./node.js";
export * as Path from "./path.js";
export type { Path as ModulePath } from "./path.js";
export * from "./optics.js";
export * from "./select.js";
export * from "./params.js";
export * from "./dispose.js";
export * from "./show.js";
