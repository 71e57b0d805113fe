/**
 * Rotary position embeddings as transformers computes them: inverse
 * frequencies θ^(−2i/d) (optionally rescaled), angles = position · inv_freq,
 * both halves concatenated, and `x·cos + rotate_half(x)·sin` with
 * `rotate_half(x) = [−x₂, x₁]`.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { RopeScalingConfig } from "./config.js";

/**
 * The inverse frequencies [d/2] for head size `dim`.
 *
 * @example
 *   ropeInvFreq(4, 10000, { _tag: "default" }) // [1, 0.01]
 */
export const ropeInvFreq = (dim: number, theta: number, scaling: RopeScalingConfig): Float32Array => {
  const base = Float32Array.from({ length: dim / 2 }, (_, i) => 1 / theta ** (Math.fround((2 * i) / dim)));
  switch (scaling._tag) {
    case "default":
      return base;
    case "linear":
      return base.map((f) => f / scaling.factor);
    case "llama3": {
      const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: old } = scaling;
      const lowWavelen = old / lo;
      const highWavelen = old / hi;
      return base.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen > lowWavelen) return f / factor;
        if (wavelen < highWavelen) return f;
        const smooth = (old / wavelen - lo) / (hi - lo);
        return (1 - smooth) * (f / factor) + smooth * f;
      });
    }
  }
};

/** cos and sin, each [B|1, 1, T, d], for int positions [B|1, T]. */
export interface Rope {
  readonly cos: tf.Tensor;
  readonly sin: tf.Tensor;
}

/**
 * cos/sin tables for the given positions.
 *
 * @example
 *   const { cos, sin } = ropeTables(tf.tensor2d([[0, 1, 2]], [1, 3], "int32"), ropeInvFreq(8, 1e4, { _tag: "default" }))
 */
export const ropeTables = (positions: tf.Tensor, invFreq: Float32Array): Rope =>
  tf.tidy(() => {
    const [b, t] = positions.shape as [number, number];
    const half = invFreq.length;
    const angles = tf.mul(tf.reshape(tf.cast(positions, "float32"), [b, t, 1]), tf.tensor3d(invFreq, [1, 1, half]));
    const emb = tf.reshape(tf.concat([angles, angles], -1), [b, 1, t, 2 * half]);
    return { cos: tf.cos(emb), sin: tf.sin(emb) };
  });

/**
 * [x₁, x₂] → [−x₂, x₁] over the last axis.
 *
 * @example
 *   rotateHalf(tf.tensor1d([1, 2, 3, 4])) // [-3, -4, 1, 2]
 */
export const rotateHalf = (x: tf.Tensor): tf.Tensor => {
  const d = x.shape[x.rank - 1] as number;
  const [x1, x2] = tf.split(x, [d / 2, d / 2], -1) as [tf.Tensor, tf.Tensor];
  return tf.concat([tf.neg(x2), x1], -1);
};

/**
 * Rotate [B, H, T, d] queries or keys.
 *
 * @example
 *   const qRot = applyRope(q, ropeTables(positions, invFreq))
 */
export const applyRope = (x: tf.Tensor, rope: Rope): tf.Tensor => tf.add(tf.mul(x, rope.cos), tf.mul(rotateHalf(x), rope.sin));
