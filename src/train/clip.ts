/**
 * Gradient clipping by global L2 norm, as `torch.nn.utils.clip_grad_norm_`
 * (norm_type = 2, error_if_nonfinite = False), but pure: new tensors out.
 */
import * as tf from "@tensorflow/tfjs-core";
import { mapParams, type Params } from "./params.js";

/** Scalar tensor √(Σ over all tensors of Σ g²); 0 for an empty record. */
const globalNormTensor = (grads: Params): tf.Scalar =>
  tf.tidy(() => {
    const squares = Object.values(grads).map((g) => tf.sum(tf.square(tf.cast(g, "float32"))));
    return tf.sqrt(squares.length === 0 ? tf.scalar(0) : tf.addN(squares)) as tf.Scalar;
  });

/**
 * The L2 norm of all gradients taken together (the norm of the vector of
 * per-tensor norms, which is torch's `total_norm`). Reads one number back
 * from the backend.
 *
 * @example
 *   globalNorm({ a: tf.tensor1d([3]), b: tf.tensor1d([4]) }); // 5
 */
export const globalNorm = (grads: Params): number => {
  const n = globalNormTensor(grads);
  try {
    return n.dataSync()[0] ?? 0;
  } finally {
    n.dispose();
  }
};

/**
 * Scale all gradients by `maxNorm / (norm + 1e-6)` when that factor is below
 * 1 (torch's `clip_grad_norm_`), and return them with the norm measured
 * before clipping. Always returns new tensors (copies when nothing is
 * scaled), so the caller disposes input and output alike; never disposes
 * its input.
 *
 * @example
 *   const { grads: clipped, norm } = clipByGlobalNorm(grads, 1.0);
 */
export const clipByGlobalNorm = (grads: Params, maxNorm: number): { grads: Params; norm: number } => {
  if (!(maxNorm >= 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`clipByGlobalNorm: maxNorm must be finite and >= 0, got ${maxNorm}`);
  }
  const norm = globalNorm(grads);
  const scale = maxNorm / (norm + 1e-6);
  const clipped = tf.tidy(() => mapParams(grads, (g) => (scale < 1 ? tf.mul(g, scale) : tf.clone(g))));
  return { grads: clipped, norm };
};
