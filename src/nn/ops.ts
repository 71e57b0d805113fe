/** Small tensor helpers tfjs lacks. */
import * as tf from "@tensorflow/tfjs-core";

/**
 * The identity whose gradient is zero (torch's `.detach()` inside a graph;
 * tfjs has no `stop_gradient`).
 */
export const stopGradient = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad(((v: tf.Tensor) => ({
    value: tf.clone(v),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0])(x) as tf.Tensor;

/** Is every element finite? (one small sync read) */
export const allFinite = (x: tf.Tensor): boolean => tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);

/**
 * `tf.tidy` for functions that return trees or records holding tensors: every
 * tensor reachable from the result is kept, every other tensor made inside is
 * freed. (The result must not hold large TypedArrays: tfjs walks it.)
 */
export const tidy = <T>(f: () => T): T => tf.tidy(f as unknown as () => tf.TensorContainer) as unknown as T;
