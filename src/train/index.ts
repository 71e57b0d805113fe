/**
 * Pure training primitives: optimizers (optax-style `init`/`update` over
 * parameter records), learning-rate schedules, losses, gradient clipping and
 * accumulation.
 */
export { addGrads, scaleGrads } from "./accumulate.js";
export { clipByGlobalNorm, globalNorm } from "./clip.js";
export { causalLmLoss, crossEntropy, mse, type CrossEntropyOptions, type Reduction } from "./loss.js";
export * from "./optim/index.js";
export { assertSameStructure, disposeParams, mapParams, type Params } from "./params.js";
export {
  constant,
  cosineWithWarmup,
  linearWarmup,
  linearWithWarmup,
  type CosineOptions,
  type Schedule,
  type WarmupDecayOptions,
} from "./schedule.js";
export { lossAndGrads, train, type TrainOptions, type TrainResult } from "./loop.js";
export { formatProgress, progressBar, type Progress } from "./progress.js";
