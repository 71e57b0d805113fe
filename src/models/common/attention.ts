/**
 * Attention pieces shared by the architectures, and the side inputs they read
 * from `ctx`. Keys/values of earlier positions (a prefix from prefix tuning,
 * a KV cache during generation) are prepended per layer; the full keys and
 * values of each layer are reported through `ctx.onKeyValues`, which is how
 * `causalLmStep` builds the next cache as a new value.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Ctx } from "../../nn/registry.js";

/**
 * torch.finfo(float32).min: what HF adds to masked attention scores.
 *
 * @example
 *   tf.add(scores, tf.mul(tf.sub(1, allowed), FLOAT32_MIN))
 */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** One layer's keys and values, each [B, H_kv, positions, head_dim]. */
export type KeyValue = readonly [tf.Tensor, tf.Tensor];

/**
 * Side inputs the transformer kinds read from `ctx` (all optional).
 *
 * @example
 *   apply(gpt2, ids, { side: { attentionMask: mask } satisfies TransformerSide })
 */
export interface TransformerSide {
  /** [B, K] over all key positions (past + current), or [B, T] (earlier positions count as attended). 1 = attend. */
  readonly attentionMask?: tf.Tensor;
  /** [B, T] or [T] int positions; default `arange(past, past + T)`. */
  readonly positionIds?: tf.Tensor;
  /** [B, T, D] embeddings used instead of looking up the input ids (prompt tuning). */
  readonly inputsEmbeds?: tf.Tensor;
  /** BERT's segment ids [B, T] (default zeros). */
  readonly tokenTypeIds?: tf.Tensor;
  /** Per layer [k, v] ([B, H_kv, P, hd]) prepended to the keys/values (prefix tuning). */
  readonly prefixKeyValues?: ReadonlyArray<KeyValue>;
  /** Per layer [k, v] of earlier positions (a KV cache), prepended after the prefix. */
  readonly pastKeyValues?: ReadonlyArray<KeyValue>;
  /** Receives each layer's full keys and values (prefix + past + current). */
  readonly onKeyValues?: (layer: number, kv: KeyValue) => void;
}

/** Set by a model kind for its blocks: the block's index and the additive mask. */
interface LayerSide {
  readonly layer?: number;
  readonly attentionBias?: tf.Tensor;
}

/**
 * The transformer side inputs of a context.
 *
 * @example
 *   sideOf(ctx).attentionMask // [B, K] or undefined
 */
export const sideOf = (ctx: Ctx): TransformerSide & LayerSide => ctx as unknown as TransformerSide & LayerSide;

/**
 * Number of key positions before the current ones (prefix + cache).
 *
 * @example
 *   pastLength({ ...ctx, pastKeyValues: cache.layers }) // cache.length
 */
export const pastLength = (ctx: Ctx): number => {
  const s = sideOf(ctx);
  const len = (kv: ReadonlyArray<KeyValue> | undefined): number => (kv?.[0]?.[0].shape[2] as number | undefined) ?? 0;
  return len(s.prefixKeyValues) + len(s.pastKeyValues);
};

/**
 * [B, T, H·hd] → [B, H, T, hd].
 *
 * @example
 *   splitHeads(tf.zeros([2, 5, 32]), 4, 8).shape // [2, 4, 5, 8]
 */
export const splitHeads = (x: tf.Tensor, heads: number, headDim: number): tf.Tensor => {
  const [b, t] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, t, heads, headDim]), [0, 2, 1, 3]);
};

/**
 * [B, H, T, hd] → [B, T, H·hd] (heads concatenated).
 *
 * @example
 *   mergeHeads(tf.zeros([2, 4, 5, 8])).shape // [2, 5, 32]
 */
export const mergeHeads = (x: tf.Tensor): tf.Tensor => {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
};

/**
 * [B, H_kv, K, hd] → [B, H_kv·n, K, hd], head i using kv head ⌊i/n⌋ (HF `repeat_kv`).
 *
 * @example
 *   repeatKv(tf.zeros([1, 2, 5, 8]), 2).shape // [1, 4, 5, 8]
 */
export const repeatKv = (x: tf.Tensor, n: number): tf.Tensor => {
  if (n === 1) return x;
  const [b, h, k, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.tile(tf.expandDims(x, 2), [1, 1, n, 1, 1]), [b, h * n, k, d]);
};

/**
 * The additive attention mask [B, 1, T, K]: 0 where query i may see key j,
 * float32 min elsewhere. Causal: j ≤ past + i (and, with a sliding window w,
 * past + i − j < w). Padding: `mask[b, j] = 1`.
 *
 * @example
 *   attentionBias({ batch: 2, queryLen: 8, pastLen: 0, causal: true, mask }) // [2, 1, 8, 8]
 */
export const attentionBias = (o: {
  readonly batch: number;
  readonly queryLen: number;
  readonly pastLen: number;
  readonly causal: boolean;
  readonly mask?: tf.Tensor | undefined;
  readonly slidingWindow?: number | undefined;
}): tf.Tensor =>
  tf.tidy(() => {
    const keyLen = o.pastLen + o.queryLen;
    let allowed = tf.ones([1, 1, o.queryLen, keyLen], "bool");
    if (o.causal) {
      const kPos = tf.reshape(tf.range(0, keyLen, 1, "int32"), [1, keyLen]);
      const qPos = tf.reshape(tf.range(o.pastLen, keyLen, 1, "int32"), [o.queryLen, 1]);
      let ok = tf.lessEqual(kPos, qPos);
      if (o.slidingWindow !== undefined) ok = tf.logicalAnd(ok, tf.less(tf.sub(qPos, kPos), o.slidingWindow));
      allowed = tf.reshape(ok, [1, 1, o.queryLen, keyLen]);
    }
    if (o.mask !== undefined) {
      const m = fullMask(o.mask, keyLen);
      allowed = tf.logicalAnd(allowed, tf.reshape(tf.equal(m, 1), [o.batch, 1, 1, keyLen]));
    }
    const bias = tf.mul(tf.sub(1, tf.cast(allowed, "float32")), FLOAT32_MIN);
    return bias.shape[0] === o.batch ? bias : tf.tile(bias, [o.batch, 1, 1, 1]);
  });

/**
 * A [B, n] mask widened to [B, K] by prepending ones (earlier positions are attended).
 *
 * @example
 *   fullMask(tf.tensor2d([[0, 1]], [1, 2], "int32"), 4) // [[1, 1, 0, 1]]
 */
export const fullMask = (mask: tf.Tensor, keyLen: number): tf.Tensor => {
  const [b, n] = mask.shape as [number, number];
  if (n > keyLen) throw new Error(`attention mask has ${n} positions but there are only ${keyLen} keys`);
  const m = tf.cast(mask, "int32");
  return n === keyLen ? m : tf.concat([tf.ones([b, keyLen - n], "int32"), m], 1);
};

/**
 * softmax(q·kᵀ·scale + bias)·v over [B, H, T, hd] inputs; `probs` may apply dropout to the weights.
 *
 * @example
 *   scaledDotProduct(q, k, v, bias, 1 / Math.sqrt(headDim))   // [B, H, T, hd]
 */
export const scaledDotProduct = (
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  bias: tf.Tensor | undefined,
  scale: number,
  probs: (p: tf.Tensor) => tf.Tensor = (p) => p,
): tf.Tensor => {
  let scores = tf.mul(tf.matMul(q, k, false, true), scale);
  if (bias !== undefined) scores = tf.add(scores, bias);
  return tf.matMul(probs(tf.softmax(scores, -1)), v);
};

/**
 * Prepend this layer's prefix and cached keys/values to the current ones,
 * and report the result to `ctx.onKeyValues`.
 *
 * @example
 *   const [kAll, vAll] = withPast(ctx, k, v)   // [B, H_kv, past + T, hd]
 */
export const withPast = (ctx: Ctx, k: tf.Tensor, v: tf.Tensor): KeyValue => {
  const s = sideOf(ctx);
  const layer = s.layer ?? 0;
  const ks: tf.Tensor[] = [];
  const vs: tf.Tensor[] = [];
  for (const kv of [s.prefixKeyValues?.[layer], s.pastKeyValues?.[layer]]) {
    if (kv === undefined) continue;
    const batch = k.shape[0] as number;
    const fit = (x: tf.Tensor): tf.Tensor => (x.shape[0] === batch ? x : tf.tile(x, [batch / (x.shape[0] as number), 1, 1, 1]));
    ks.push(fit(kv[0]));
    vs.push(fit(kv[1]));
  }
  const out: KeyValue = ks.length === 0 ? [k, v] : [tf.concat([...ks, k], 2), tf.concat([...vs, v], 2)];
  s.onKeyValues?.(layer, out);
  return out;
};

/**
 * Default positions `arange(past, past + T)` as [1, T] int32, or the given ones.
 *
 * @example
 *   positionsOf(ctx, 3) // [[0, 1, 2]] without a past, [[4, 5, 6]] after 4 cached positions
 */
export const positionsOf = (ctx: Ctx, queryLen: number, offset = 0): tf.Tensor => {
  const given = sideOf(ctx).positionIds;
  if (given !== undefined) return tf.cast(given, "int32");
  const past = pastLength(ctx);
  return tf.reshape(tf.range(past + offset, past + offset + queryLen, 1, "int32"), [1, queryLen]);
};

/**
 * Inverted dropout in training mode, identity otherwise.
 *
 * @example
 *   dropoutIf(h, 0.1, ctx) // h itself unless ctx.training
 */
export const dropoutIf = (x: tf.Tensor, p: number | undefined, ctx: Ctx): tf.Tensor =>
  ctx.training && p !== undefined && p > 0 ? tf.dropout(x, p) : x;
