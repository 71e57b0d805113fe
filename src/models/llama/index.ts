/** The LLaMA family (Llama, Mistral, Qwen2): config codec, RoPE, builder and kinds. */
export * from "./config.js";
export * from "./rope.js";
export * from "./build.js";
export * from "./kinds.js";
