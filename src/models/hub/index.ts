/** Loading and saving Hugging Face model folders (Node: uses node:fs). */
export * from "./load.js";
export * from "./save.js";
export * from "./tokenizer.js";
