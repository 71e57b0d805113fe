import { activationKind, dropoutKind, flattenKind } from "./activation.js";
import { conv2dKind } from "./conv.js";
import { dictKind, sequentialKind } from "./container.js";
import { embeddingKind } from "./embedding.js";
import { conv1dKind, linearKind } from "./linear.js";
import { layerNormKind, rmsNormKind } from "./norm.js";
import { makeKinds } from "./registry.js";

export * from "./registry.js";
export * from "./init.js";
export * from "./linear.js";
export * from "./conv.js";
export * from "./embedding.js";
export * from "./norm.js";
export * from "./activation.js";
export * from "./container.js";

/** The leaf and container kinds of `nn/`. */
export const nnKinds = makeKinds(
  linearKind,
  conv1dKind,
  conv2dKind,
  embeddingKind,
  layerNormKind,
  rmsNormKind,
  activationKind,
  dropoutKind,
  flattenKind,
  sequentialKind,
  dictKind,
);
