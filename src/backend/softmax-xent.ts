/**
 * {@link sparseSoftmaxCrossEntropy}, a fused op. The autodiff route
 * (`logSoftmax`, a one-hot by comparison, `where`, `sum`, and their
 * gradients) made ~10 passes over the [N, V] logits forward and as many
 * backward, `Exp` among them computed by the wasm backend's scalar `expf`
 * (~150 ms of a ~900 ms LoRA step, N = 1016, V = 5000). Here:
 * - forward: the backend's `Softmax` kernel (XNNPACK's vectorised one on
 *   wasm, ~1 ms per million elements), then per row `−log p[label]`
 *   (`logsumexp(x) − x[label]` to float32 precision; a row whose target
 *   probability underflows is recomputed from the logits). The
 *   probabilities are the only [N, V] tensor kept for the backward pass.
 * - backward: `(p − onehot)·dy` as the backend's broadcasting `Multiply` of
 *   p by the column of dy (ignored rows zeroed), then the one-hot subtracted
 *   in place (N writes).
 */
import * as tf from "@tensorflow/tfjs-core";
import { asCustom, f32, free, hasFused, i32, run } from "./fused.js";
import { allocF32, sizeOf } from "./internals.js";

export const SPARSE_XENT = "PeftSparseSoftmaxXent";
export const SPARSE_XENT_GRAD = "PeftSparseSoftmaxXentGrad";

/** Row i's log-sum-exp, computed directly (for rows whose target probability underflows). */
const logSumExpRow = (x: Float32Array, o: number, v: number): number => {
  let m = -Infinity;
  for (let j = 0; j < v; j++) if ((x[o + j] as number) > m) m = x[o + j] as number;
  if (m === -Infinity || m === Infinity || Number.isNaN(m)) return m;
  let s = 0;
  for (let j = 0; j < v; j++) s += Math.exp((x[o + j] as number) - m);
  return m + Math.log(s);
};

/** Below this, −log p[label] loses digits to float32 underflow: recompute the row's log-sum-exp. */
const TINY = 1e-30;

/**
 * nll[i] = logsumexp(x[i]) − x[i, labels[i]] (0 where labels[i] = ignoreIndex),
 * and softmax(x). `−log p[label]` from the backend's softmax is that value to
 * float32 precision unless p[label] underflows; those rows are recomputed.
 */
export const sparseXentKernel: tf.KernelFunc = (args) => {
  const { logits, labels } = args.inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
  const { ignoreIndex } = args.attrs as unknown as { ignoreIndex: number };
  const be = args.backend as tf.KernelBackend;
  const [n, v] = logits.shape as [number, number];
  const probs = run(tf.Softmax, be, { logits }, { dim: 1 });
  const nll = allocF32(be, [n]);
  const x = f32(be, logits);
  const p = f32(be, probs);
  const y = i32(be, labels);
  const out = nll.view();
  for (let i = 0; i < n; i++) {
    const label = y[i] as number;
    if (label === ignoreIndex) {
      out[i] = 0;
    } else if (!(label >= 0 && label < v)) {
      out[i] = NaN;
    } else {
      const q = p[i * v + label] as number;
      out[i] = q > TINY ? -Math.log(q) : logSumExpRow(x, i * v, v) - (x[i * v + label] as number);
    }
  }
  return [nll.info, probs];
};

/**
 * dx[i, :] = (probs[i, :] − onehot(labels[i]))·dy[i] (0 where labels[i] =
 * ignoreIndex): the backend's broadcasting `Multiply` of probs by the column
 * of dy (ignored rows zeroed), then the one-hot subtracted in place.
 */
export const sparseXentGradKernel: tf.KernelFunc = (args) => {
  const { probs, labels, dy } = args.inputs as { probs: tf.TensorInfo; labels: tf.TensorInfo; dy: tf.TensorInfo };
  const { ignoreIndex } = args.attrs as unknown as { ignoreIndex: number };
  const be = args.backend as tf.KernelBackend;
  const [n, v] = probs.shape as [number, number];
  const col = allocF32(be, [n, 1]);
  {
    const g = f32(be, dy);
    const y = i32(be, labels);
    const c = col.view();
    const gs = sizeOf(dy.shape) === 1 ? 0 : 1;
    for (let i = 0; i < n; i++) c[i] = (y[i] as number) === ignoreIndex ? 0 : (g[i * gs] as number);
  }
  const dx = run(tf.Multiply, be, { a: probs, b: col.info });
  const out = f32(be, dx);
  const c = f32(be, col.info);
  const y = i32(be, labels);
  for (let i = 0; i < n; i++) {
    const label = y[i] as number;
    if (label !== ignoreIndex && label >= 0 && label < v) out[i * v + label] = (out[i * v + label] as number) - (c[i] as number);
  }
  free(be, col.info);
  return dx;
};

/**
 * Per-row cross-entropy of float32 logits [N, V] against int32 labels [N]:
 * `logsumexp(logits[i]) − logits[i, labels[i]]`, 0 where the label is
 * `ignoreIndex`, with the fused gradient. Labels must be in [0, V) or
 * `ignoreIndex` (callers check). `undefined` when the active backend has no
 * fused kernel (callers then compose it from ops).
 *
 * @example
 *   const nll = sparseSoftmaxCrossEntropy(logits2d, labels1d, -100); // [N]
 */
export const sparseSoftmaxCrossEntropy = (logits: tf.Tensor, labels: tf.Tensor, ignoreIndex: number): tf.Tensor | undefined => {
  if (logits.rank !== 2 || labels.rank !== 1 || logits.dtype !== "float32" || labels.dtype !== "int32" || !hasFused(SPARSE_XENT)) {
    return undefined;
  }
  const f = tf.customGrad(asCustom((x, save) => {
    const [nll, probs] = tf.engine().runKernel(SPARSE_XENT, { logits: x, labels }, { ignoreIndex }) as tf.Tensor[];
    save([probs as tf.Tensor, labels]);
    return {
      value: nll as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(SPARSE_XENT_GRAD, { probs: saved[0] as tf.Tensor, labels: saved[1] as tf.Tensor, dy }, { ignoreIndex }) as tf.Tensor,
    };
  }));
  return f(logits);
};
