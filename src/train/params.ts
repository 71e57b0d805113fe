/**
 * Parameter records: the currency of the training primitives.
 *
 * Parameters, gradients and optimizer moments are all flat records keyed by
 * Hugging Face state-dict paths (`lin0.lora_A.default.weight`). Keeping them
 * flat (rather than trees) makes every optimizer a per-key map, and lets the
 * caller choose which leaves are trainable simply by which keys it passes.
 *
 * Ownership: nothing here disposes its inputs; functions that build records
 * return fresh tensors the caller owns.
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Tensors by state-dict key.
 *
 * @example
 *   const p: Params = { "lin0.weight": tf.ones([2, 2]) };
 */
export type Params = Readonly<Record<string, tf.Tensor>>;

const sameShape = (a: tf.Tensor, b: tf.Tensor): boolean =>
  a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Throw unless `a` and `b` have the same keys and, per key, the same shape.
 * A mismatch is a broken invariant of the caller (a gradient for a frozen
 * leaf, a missing gradient), so it is reported with the offending keys.
 *
 * @example
 *   assertSameStructure("adamw.update", "grads", grads, "params", params);
 */
export const assertSameStructure = (
  where: string,
  nameA: string,
  a: Params,
  nameB: string,
  b: Params,
): void => {
  const onlyA = Object.keys(a).filter((k) => !(k in b));
  const onlyB = Object.keys(b).filter((k) => !(k in a));
  if (onlyA.length > 0 || onlyB.length > 0) {
    throw new Error(
      `${where}: ${nameA} and ${nameB} differ in keys` +
        (onlyA.length > 0 ? `; only in ${nameA}: ${onlyA.join(", ")}` : "") +
        (onlyB.length > 0 ? `; only in ${nameB}: ${onlyB.join(", ")}` : ""),
    );
  }
  for (const [k, ta] of Object.entries(a)) {
    const tb = b[k];
    if (tb !== undefined && !sameShape(ta, tb)) {
      throw new Error(
        `${where}: ${k}: ${nameA} has shape [${ta.shape.join(", ")}], ${nameB} has [${tb.shape.join(", ")}]`,
      );
    }
  }
};

/**
 * Apply `f` to every tensor, keeping the keys (and their order).
 * Does not dispose anything; run it inside `tf.tidy` when `f` allocates.
 *
 * @example
 *   const zeros = tf.tidy(() => mapParams(params, (t) => tf.zerosLike(t)));
 */
export const mapParams = (p: Params, f: (t: tf.Tensor, key: string) => tf.Tensor): Params => {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(p)) out[k] = f(t, k);
  return out;
};

/**
 * Dispose every tensor of a record (the caller's side of the ownership rule).
 *
 * @example
 *   const next = opt.update(grads, state, params);
 *   disposeParams(params); // the old values are no longer needed
 */
export const disposeParams = (p: Params): void => {
  tf.dispose(Object.values(p));
};
