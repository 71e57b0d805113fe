/**
 * Architectures as kinds, their config codecs and builders, task heads and
 * PEFT's default target modules. Browser-safe: loading/saving folders
 * (`./hub/index.js`, node:fs) and generation (`./generate.js`, which needs
 * the full kind registry of `apply`) are separate entry points.
 */
import { makeKinds, type Kinds } from "../nn/registry.js";
import { moduleListKind } from "./common/stack.js";
import { gpt2Kinds } from "./gpt2/kinds.js";
import { llamaKinds } from "./llama/kinds.js";
import { bertKinds } from "./bert/kinds.js";
import { taskKinds } from "./tasks/kinds.js";

export * from "./layers.js";
export * from "./common/attention.js";
export * from "./common/config.js";
export * from "./common/head.js";
export * from "./common/source.js";
export * from "./common/stack.js";
export * from "./gpt2/index.js";
export * from "./llama/index.js";
export * from "./bert/index.js";
export * from "./tasks/index.js";
export * from "./architectures.js";
export * from "./tokenizer.js";

/**
 * Architecture kinds (transformers register here).
 *
 * @example
 *   const kinds = extendKinds(nnKinds, ...modelKinds.values())
 */
export const modelKinds: Kinds = makeKinds(moduleListKind, ...gpt2Kinds, ...llamaKinds, ...bertKinds, ...taskKinds);
