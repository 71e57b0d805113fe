/**
 * The optimizer interface (optax-style): a pair of pure functions over
 * parameter records, with the optimizer state as an explicit value.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Params } from "../params.js";
import type { Schedule } from "../schedule.js";

/**
 * A pure optimizer.
 *
 * - `init(params)` builds the initial state (fresh tensors).
 * - `update(grads, state, params)` returns NEW parameter tensors and a NEW
 *   state. It never disposes its inputs: the caller owns old and new values
 *   and frees the old ones when done (`disposeParams`, `disposeState`).
 *   `grads` must have exactly the keys and shapes of `params`.
 *
 * @example
 *   const opt = adamw({ lr: 1e-3 });
 *   let state = opt.init(params);
 *   const next = opt.update(grads, state, params);
 *   disposeParams(params); disposeState(state);
 *   params = next.params; state = next.state;
 */
export interface Optimizer<S> {
  init(params: Params): S;
  update(grads: Params, state: S, params: Params): { params: Params; state: S };
}

/**
 * A learning rate: a constant, or a schedule of the update index (0 at the
 * first update, as torch's `LambdaLR` counts).
 *
 * @example
 *   const lr: LearningRate = linearWithWarmup({ peak: 1e-3, warmupSteps: 10, totalSteps: 100 });
 */
export type LearningRate = number | Schedule;

/**
 * The learning rate for the update with index `step` (0-based). Throws on a
 * negative or non-finite value, which would silently wreck training.
 *
 * @example
 *   learningRateAt(0.1, 7); // 0.1
 */
export const learningRateAt = (lr: LearningRate, step: number): number => {
  const value = typeof lr === "number" ? lr : lr(step);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`learning rate at step ${step} must be finite and >= 0, got ${value}`);
  }
  return value;
};

/**
 * Dispose every tensor inside an optimizer state (any nesting of plain
 * objects and arrays); numbers and other leaves are ignored.
 *
 * @example
 *   const state = adamw({ lr: 1e-3 }).init(params);
 *   disposeState(state);
 */
export const disposeState = <S>(state: S): void => {
  const walk = (x: unknown): void => {
    if (x instanceof tf.Tensor) x.dispose();
    else if (Array.isArray(x)) x.forEach(walk);
    else if (typeof x === "object" && x !== null) Object.values(x).forEach(walk);
  };
  walk(state);
};
