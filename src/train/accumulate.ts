/**
 * Gradient accumulation: gradients form a monoid under key-wise addition,
 * with the empty record as identity, so a micro-batch loop is a fold.
 * Both functions are pure: they return new tensors and dispose nothing.
 */
import * as tf from "@tensorflow/tfjs-core";
import { mapParams, type Params } from "./params.js";

/**
 * Key-wise sum. A key present in only one side is copied (a missing
 * gradient counts as zero), so `addGrads({}, g)` starts an accumulation.
 * Keys present in both must have the same shape (no silent broadcasting).
 *
 * @example
 *   let acc: Params = {};
 *   for (const g of microBatchGrads) { const next = addGrads(acc, g); disposeParams(acc); acc = next; }
 *   const mean = scaleGrads(acc, 1 / microBatchGrads.length);
 */
export const addGrads = (a: Params, b: Params): Params => {
  for (const [k, ta] of Object.entries(a)) {
    const tb = b[k];
    if (tb !== undefined && (ta.rank !== tb.rank || ta.shape.some((d, i) => d !== tb.shape[i]))) {
      throw new RangeError(`addGrads: ${k}: shapes [${ta.shape.join(", ")}] and [${tb.shape.join(", ")}] differ`);
    }
  }
  return tf.tidy(() => {
    const out: Record<string, tf.Tensor> = {};
    for (const [k, ta] of Object.entries(a)) {
      const tb = b[k];
      out[k] = tb === undefined ? tf.clone(ta) : tf.add(ta, tb);
    }
    for (const [k, tb] of Object.entries(b)) if (!(k in a)) out[k] = tf.clone(tb);
    return out;
  });
};

/**
 * Multiply every gradient by `s` (e.g. `1 / accumulationSteps`).
 *
 * @example
 *   const half = scaleGrads(grads, 0.5);
 */
export const scaleGrads = (g: Params, s: number): Params => tf.tidy(() => mapParams(g, (t) => tf.mul(t, s)));
