/** BERT and RoBERTa encoders: config codec, builder and kinds. */
export * from "./config.js";
export * from "./build.js";
export * from "./kinds.js";
