/**
 * {@link fusedSelfAttention} (native GEMM path only), a fused op: multi-head
 * attention read in place from a fused q|k|v projection — strided GEMMs
 * instead of a split, four head transposes, a head merge, a scale, a mask add
 * and their gradients.
 */
import * as tf from "@tensorflow/tfjs-core";
import { asCustom, f32, free, hasFused, run } from "./fused.js";
import { allocF32 } from "./internals.js";
import { activeNativeGemm } from "./matmul.js";
import { withFewThreads } from "./matmul-native.js";

export const SELF_ATTENTION = "PeftFusedSelfAttention";
export const SELF_ATTENTION_GRAD = "PeftFusedSelfAttentionGrad";

/** The per-head products are ~1 MFLOP: one OpenBLAS thread (see matmul-native.ts `SINGLE_THREAD_FLOPS`). */
const onOneThread = <T>(f: () => T): T => {
  const g = activeNativeGemm();
  return g === undefined ? f() : withFewThreads(g, 0, f);
};

interface AttentionAttrs {
  heads: number;
  scale: number;
}

const attentionDims = (qkv: tf.TensorInfo, heads: number) => {
  const [b, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  return { b, t, d, d3, hd: d / heads };
};

/** What both attention kernels start from: attributes, backend, the native GEMM, and the dimensions of qkv [B, T, 3D]. */
const kernelSetup = (args: Parameters<tf.KernelFunc>[0], qkv: tf.TensorInfo) => {
  const { heads, scale } = args.attrs as unknown as AttentionAttrs;
  const g = activeNativeGemm();
  if (g === undefined) throw new Error("[peft-ts] fused self-attention needs the native GEMM");
  const { b: B, t: T, d: D, d3: D3, hd } = attentionDims(qkv, heads);
  return { heads, scale, be: args.backend as tf.KernelBackend, g, B, T, D, D3, hd, TT: T * T };
};

/**
 * out[b, :, h·hd:(h+1)·hd] = softmax(scale·Q_bh·K_bhᵀ + bias_b)·V_bh, where
 * Q_bh, K_bh, V_bh are column blocks of qkv [B, T, 3D] read in place (the
 * GEMM's leading dimension is 3D: no split, no head transposes), the scores
 * start as a copy of the mask (`beta = 1`), the softmax is the backend's
 * kernel, and each head's output is written straight into its columns of
 * out [B, T, D] (no head merge). Outputs: out and the probabilities
 * [B, H, T, T] (kept for the gradient).
 */
export const selfAttentionKernel: tf.KernelFunc = (args) => onOneThread(() => selfAttentionOn(args));

const selfAttentionOn: tf.KernelFunc = (args) => {
  const { qkv, bias } = args.inputs as { qkv: tf.TensorInfo; bias?: tf.TensorInfo };
  const { heads, scale, be, g, B, T, D, D3, hd, TT } = kernelSetup(args, qkv);
  const scores = allocF32(be, [B, heads, T, T]);
  {
    const x = f32(be, qkv);
    const s = scores.view();
    const m = bias != null ? f32(be, bias) : undefined;
    const mb = bias != null && bias.shape[0] !== 1 ? TT : 0;
    for (let b = 0; b < B; b++) {
      const qAt = b * T * D3;
      for (let h = 0; h < heads; h++) {
        const sAt = (b * heads + h) * TT;
        if (m !== undefined) s.set(m.subarray(b * mb, b * mb + TT), sAt);
        g.sgemm(false, true, T, T, hd, scale, x.subarray(qAt + h * hd), D3, x.subarray(qAt + D + h * hd), D3, m !== undefined ? 1 : 0, s.subarray(sAt), T);
      }
    }
  }
  const probs = run(tf.Softmax, be, { logits: scores.info }, { dim: 3 });
  free(be, scores.info);
  const out = allocF32(be, [B, T, D]);
  const x = f32(be, qkv);
  const p = f32(be, probs);
  const o = out.view();
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      g.sgemm(false, false, T, hd, T, 1, p.subarray((b * heads + h) * TT), T, x.subarray(b * T * D3 + 2 * D + h * hd), D3, 0, o.subarray(b * T * D + h * hd), D);
    }
  }
  return [out.info, probs];
};

/**
 * d qkv [B, T, 3D] of {@link selfAttentionKernel}: dP = dO·Vᵀ (one strided
 * GEMM per batch over the heads), dS = P ⊙ (dP − rowsum(dP ⊙ P)) with the
 * backend's (vectorised) Multiply/Sum/Sub over all heads at once, then per
 * batch and head dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO, each written
 * into its column block of d qkv.
 */
export const selfAttentionGradKernel: tf.KernelFunc = (args) => onOneThread(() => selfAttentionGradOn(args));

const selfAttentionGradOn: tf.KernelFunc = (args) => {
  const { dy, qkv, probs } = args.inputs as { dy: tf.TensorInfo; qkv: tf.TensorInfo; probs: tf.TensorInfo };
  const { heads, scale, be, g, B, T, D, D3, hd, TT } = kernelSetup(args, qkv);
  const dP = allocF32(be, [B, heads, T, T]);
  {
    const x = f32(be, qkv);
    const go = f32(be, dy);
    const dp = dP.view();
    for (let b = 0; b < B; b++) {
      g.sgemmStrided(false, true, T, T, hd, 1, go.subarray(b * T * D), D, hd, x.subarray(b * T * D3 + 2 * D), D3, hd, 0, dp.subarray(b * heads * TT), T, TT, heads);
    }
  }
  const pdp = run(tf.Multiply, be, { a: probs, b: dP.info });
  free(be, dP.info);
  const rowSum = run(tf.Sum, be, { x: pdp }, { axis: [3], keepDims: true });
  const pr = run(tf.Multiply, be, { a: probs, b: { ...rowSum, shape: [B, heads, T, 1] } });
  free(be, rowSum);
  const dS = run(tf.Sub, be, { a: pdp, b: pr });
  free(be, pdp);
  free(be, pr);
  const dqkv = allocF32(be, [B, T, D3]);
  const x = f32(be, qkv);
  const p = f32(be, probs);
  const go = f32(be, dy);
  const ds = f32(be, dS);
  const dx = dqkv.view();
  for (let b = 0; b < B; b++) {
    const xAt = b * T * D3;
    const oAt = b * T * D;
    for (let h = 0; h < heads; h++) {
      const pAt = (b * heads + h) * TT;
      const dsh = ds.subarray(pAt);
      g.sgemm(false, false, T, hd, T, scale, dsh, T, x.subarray(xAt + D + h * hd), D3, 0, dx.subarray(xAt + h * hd), D3);
      g.sgemm(true, false, T, hd, T, scale, dsh, T, x.subarray(xAt + h * hd), D3, 0, dx.subarray(xAt + D + h * hd), D3);
      g.sgemm(true, false, T, hd, T, 1, p.subarray(pAt), T, go.subarray(oAt + h * hd), D, 0, dx.subarray(xAt + 2 * D + h * hd), D3);
    }
  }
  free(be, dS);
  return dqkv.info;
};

/**
 * Multi-head self-attention straight from a fused q|k|v projection:
 * `qkv` [B, T, 3D] (q, k, v concatenated on the last axis, as GPT-2's
 * `c_attn` produces them), an optional additive mask `bias` [B or 1, 1, T, T]
 * (no gradient: it is a mask), → [B, T, D] with heads merged; the gradient
 * w.r.t. qkv is one fused kernel. Needs the native GEMM (strided operands);
 * returns `undefined` when it is not the active path, on other backends, or
 * for shapes it does not cover, and callers use the composite form.
 *
 * @example
 *   const o = fusedSelfAttention(qkv, bias, 12, 1 / 8) ?? composite(qkv, bias)
 */
export const fusedSelfAttention = (qkv: tf.Tensor, bias: tf.Tensor | undefined, heads: number, scale: number): tf.Tensor | undefined => {
  if (activeNativeGemm() === undefined || !hasFused(SELF_ATTENTION) || qkv.dtype !== "float32" || qkv.rank !== 3) return undefined;
  const [b, t, d3] = qkv.shape as [number, number, number];
  if (d3 % (3 * heads) !== 0 || b === 0 || t === 0 || d3 === 0) return undefined;
  if (
    bias !== undefined &&
    !(bias.dtype === "float32" && bias.rank === 4 && (bias.shape[0] === 1 || bias.shape[0] === b) && bias.shape[1] === 1 && bias.shape[2] === t && bias.shape[3] === t)
  ) {
    return undefined;
  }
  const attrs = { heads, scale };
  const f = tf.customGrad(asCustom((x, save) => {
    const [out, probs] = tf.engine().runKernel(SELF_ATTENTION, bias !== undefined ? { qkv: x, bias } : { qkv: x }, attrs) as tf.Tensor[];
    save([x, probs as tf.Tensor]);
    return {
      value: out as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(SELF_ATTENTION_GRAD, { dy, qkv: saved[0] as tf.Tensor, probs: saved[1] as tf.Tensor }, attrs) as tf.Tensor,
    };
  }));
  return f(qkv);
};
