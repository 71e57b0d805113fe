/**
 * safetensors, browser-safe part: the format, parsing, writing and tfjs
 * conversion over bytes. No Node APIs are imported from here; the file and
 * sharded-checkpoint helpers live in `./file.js` and `./sharded.js` (or use
 * `../safetensors.js`, which re-exports everything).
 *
 * @example
 *   import { parseSafetensors, serializeSafetensors, toTfTensor } from "./io/safetensors/index.js";
 *   const file = parseSafetensors(bytes, "adapter_model.safetensors");
 */
export * from "./format.js";
export * from "./half.js";
export * from "./header.js";
export * from "./read.js";
export * from "./write.js";
export * from "./tfjs.js";
