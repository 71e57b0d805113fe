/**
 * peft-ts: parameter-efficient fine-tuning for TypeScript on TensorFlow.js.
 *
 * Models are pure module trees; adapters are injected by tuners (lenses +
 * wrappers); merge/unmerge/unload are pure functions; adapters load and save
 * in Hugging Face PEFT's format.
 */
export * from "./tree/index.js";
export * from "./nn/index.js";
export * from "./models/index.js";
export * from "./tuners/index.js";
export * from "./peft/index.js";
export * from "./apply.js";
export * from "./backend/index.js";
export * from "./io/errors.js";
export * from "./io/adapter.js";
export * from "./io/adapter-keys.js";
export * as safetensors from "./io/safetensors.js";
export { loadTensors, writeSafetensorsFile, loadCheckpoint } from "./io/safetensors.js";
export * from "./train/index.js";
export * from "./models/hub/index.js";
export * from "./models/generate.js";
