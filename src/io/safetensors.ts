/**
 * safetensors for Node: everything in `./safetensors/index.js` (bytes,
 * validation, tfjs conversion; browser-safe) plus reading and writing files
 * and sharded checkpoints (`node:fs`).
 *
 * @example
 *   import { loadCheckpoint, writeSafetensorsFile } from "./io/safetensors.js";
 *   const weights = await loadCheckpoint("./gpt2");
 *   await writeSafetensorsFile("./out/model.safetensors", weights, { metadata: { format: "pt" } });
 */
export * from "./safetensors/index.js";
export * from "./safetensors/file.js";
export * from "./safetensors/sharded.js";
