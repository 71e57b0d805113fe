/**
 * Losses: cross-entropy (with PyTorch's `ignore_index`), the causal-LM loss
 * with Hugging Face's label shift, and mean squared error.
 *
 * All are built from ops whose gradients every tfjs backend has (no gather,
 * whose gradient needs `UnsortedSegmentSum`), so they work under `tf.grad`.
 * On the `wasm` and `cpu` backends the cross-entropy is one fused kernel
 * with a hand-written gradient (`softmax − onehot`, see
 * src/backend/softmax-xent.ts); elsewhere it is composed from ops.
 */
import * as tf from "@tensorflow/tfjs-core";
import { sparseSoftmaxCrossEntropy } from "../backend/softmax-xent.js";

/**
 * How per-position losses are combined; `"none"` keeps one per position.
 *
 * @example
 *   crossEntropy(logits, labels, { reduction: "sum" });
 */
export type Reduction = "mean" | "sum" | "none";

/**
 * Options of {@link crossEntropy} and {@link causalLmLoss}.
 *
 * @example
 *   const o: CrossEntropyOptions = { ignoreIndex: 0, reduction: "mean" }; // pad id 0
 */
export interface CrossEntropyOptions {
  /** Label value whose positions contribute nothing; default -100 (PyTorch/HF). */
  readonly ignoreIndex?: number;
  /** Default `"mean"`: the mean over non-ignored positions. */
  readonly reduction?: Reduction;
}

/** Check the labels; returns how many are not `ignoreIndex`. */
const checkLabels = (labels: tf.Tensor, numClasses: number, ignoreIndex: number): number => {
  if (labels.dtype !== "int32") throw new TypeError(`crossEntropy: labels must be int32, got ${labels.dtype}`);
  // Torch raises on an out-of-range target; one-hot picking would silently
  // score it as 0, so check here (labels are small and usually on the host).
  let valid = 0;
  for (const y of labels.dataSync()) {
    if (y === ignoreIndex) continue;
    if (y < 0 || y >= numClasses) {
      throw new RangeError(`crossEntropy: label ${y} is outside [0, ${numClasses}) and is not ignoreIndex (${ignoreIndex})`);
    }
    valid++;
  }
  return valid;
};

/** Per-position negative log-likelihood [N] of logits [N, C], 0 at ignored positions, composed from ops. */
const nllComposite = (logits: tf.Tensor, labels: tf.Tensor, numClasses: number, ignoreIndex: number): tf.Tensor => {
  const logp = tf.logSoftmax(logits);
  const valid = tf.notEqual(labels, ignoreIndex);
  const isTarget = tf.equal(tf.expandDims(labels, 1), tf.range(0, numClasses, 1, "int32"));
  // `where`, not multiplication by a one-hot: 0 · (−∞) from a masked-out
  // logit would be NaN.
  const picked = tf.sum(tf.where(isTarget, logp, tf.zerosLike(logp)), -1);
  return tf.where(valid, tf.neg(picked), tf.zerosLike(picked));
};

/**
 * Cross-entropy between `logits` ([N, C] or [B, T, C], any leading shape)
 * and int32 class `labels` (the leading shape), computed via `logSoftmax`
 * so large logits do not overflow.
 *
 * Positions whose label equals `ignoreIndex` contribute nothing, and
 * `"mean"` divides by the number of the others. If every label is ignored
 * the result is 0 (PyTorch returns NaN there, 0/0); a batch made only of
 * padding then adds nothing to an accumulated loss instead of poisoning it,
 * and its gradient is 0. With `"none"` the result has the labels' shape and
 * 0 at ignored positions, like PyTorch.
 *
 * @example
 *   const logits = tf.tensor2d([[2, 1, 0], [0, 0, 0]]);
 *   const labels = tf.tensor1d([0, -100], "int32");
 *   crossEntropy(logits, labels); // ≈ 0.4076 (only row 0 counts)
 */
export const crossEntropy = (
  logits: tf.Tensor,
  labels: tf.Tensor,
  options: CrossEntropyOptions = {},
): tf.Tensor => {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? "mean";
  const numClasses = logits.shape[logits.rank - 1];
  const lead = logits.shape.slice(0, -1);
  if (logits.rank < 2 || numClasses === undefined) {
    throw new RangeError(`crossEntropy: logits must have rank >= 2, got shape [${logits.shape.join(", ")}]`);
  }
  if (labels.rank !== lead.length || labels.shape.some((d, i) => d !== lead[i])) {
    throw new RangeError(
      `crossEntropy: labels shape [${labels.shape.join(", ")}] must be logits shape without its last axis [${lead.join(", ")}]`,
    );
  }
  const valid = checkLabels(labels, numClasses, ignoreIndex);
  return tf.tidy(() => {
    const flatLabels = tf.reshape(labels, [-1]);
    const flatLogits = tf.reshape(tf.cast(logits, "float32"), [-1, numClasses]);
    const nll =
      sparseSoftmaxCrossEntropy(flatLogits, flatLabels, ignoreIndex) ?? nllComposite(flatLogits, flatLabels, numClasses, ignoreIndex);
    if (reduction === "none") return tf.reshape(nll, labels.shape);
    const total = tf.sum(nll);
    if (reduction === "sum") return total;
    return tf.div(total, Math.max(valid, 1));
  });
};

/**
 * The causal language-modelling loss of Hugging Face models: position t
 * predicts token t + 1, so logits[:, :-1] are scored against labels[:, 1:]
 * (labels are the input ids, padding set to `ignoreIndex`).
 *
 * @example
 *   const loss = causalLmLoss(logits, inputIds); // logits [B, T, V], inputIds int32 [B, T]
 */
export const causalLmLoss = (
  logits: tf.Tensor,
  labels: tf.Tensor,
  options: CrossEntropyOptions = {},
): tf.Tensor => {
  const [b, t, v] = logits.shape;
  if (logits.rank !== 3 || b === undefined || t === undefined || v === undefined) {
    throw new RangeError(`causalLmLoss: logits must be [B, T, V], got [${logits.shape.join(", ")}]`);
  }
  if (labels.rank !== 2 || labels.shape[0] !== b || labels.shape[1] !== t) {
    throw new RangeError(`causalLmLoss: labels must be [${b}, ${t}], got [${labels.shape.join(", ")}]`);
  }
  if (t < 2) throw new RangeError(`causalLmLoss: need at least 2 positions to shift, got T = ${t}`);
  // Score every position against the next label, the last one against
  // `ignoreIndex`: the same loss as slicing logits[:, :-1], without copying
  // the [B, T−1, V] slice (and padding its gradient back).
  if (labels.dtype !== "int32") throw new TypeError(`crossEntropy: labels must be int32, got ${labels.dtype}`);
  const ignoreIndex = options.ignoreIndex ?? -100;
  return tf.tidy(() => {
    const next = tf.concat([tf.slice(labels, [0, 1], [b, t - 1]), tf.fill([b, 1], ignoreIndex, "int32")], 1);
    const loss = crossEntropy(logits, next, { ...options, ignoreIndex });
    return options.reduction === "none" ? tf.slice(loss, [0, 0], [b, t - 1]) : loss;
  });
};

/**
 * Mean squared error (`"mean"`, default), its sum, or the elementwise
 * squared error (`"none"`). `pred` and `target` must have the same shape
 * (no silent broadcasting).
 *
 * @example
 *   mse(tf.tensor1d([1, 2]), tf.tensor1d([0, 0])); // 2.5
 */
export const mse = (
  pred: tf.Tensor,
  target: tf.Tensor,
  options: { readonly reduction?: Reduction } = {},
): tf.Tensor => {
  if (pred.rank !== target.rank || pred.shape.some((d, i) => d !== target.shape[i])) {
    throw new RangeError(
      `mse: pred shape [${pred.shape.join(", ")}] differs from target shape [${target.shape.join(", ")}]`,
    );
  }
  return tf.tidy(() => {
    const se = tf.squaredDifference(pred, target);
    const reduction = options.reduction ?? "mean";
    return reduction === "none" ? se : reduction === "sum" ? tf.sum(se) : tf.mean(se);
  });
};
