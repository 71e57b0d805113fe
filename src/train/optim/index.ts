/** Pure optimizers (optax-style `init`/`update`). */
export { adam, adamw, type AdamOptions, type AdamWOptions, type AdamWState } from "./adamw.js";
export { sgd, type SgdOptions, type SgdState } from "./sgd.js";
export { disposeState, learningRateAt, type LearningRate, type Optimizer } from "./types.js";
