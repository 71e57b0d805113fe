/**
 * Fused kernels with hand-written gradients for the hot non-GEMM parts of a
 * transformer training step, registered on the `wasm` and `cpu` backends,
 * and the ops over them (each a `tf.customGrad` whose gradient is one more
 * kernel). Measured on the shared LoRA GPT-2 workload (`bench/profile.ts`).
 *
 * {@link sparseSoftmaxCrossEntropy}. The autodiff route (`logSoftmax`, a
 * one-hot by comparison, `where`, `sum`, and their gradients) made ~10 passes
 * over the [N, V] logits forward and as many backward, `Exp` among them
 * computed by the wasm backend's scalar `expf` (~150 ms of a ~900 ms LoRA
 * step, N = 1016, V = 5000). Here:
 * - forward: the backend's `Softmax` kernel (XNNPACK's vectorised one on
 *   wasm, ~1 ms per million elements), then per row `−log p[label]`
 *   (`logsumexp(x) − x[label]` to float32 precision; a row whose target
 *   probability underflows is recomputed from the logits). The
 *   probabilities are the only [N, V] tensor kept for the backward pass.
 * - backward: `(p − onehot)·dy` as the backend's broadcasting `Multiply` of
 *   p by the column of dy (ignored rows zeroed), then the one-hot subtracted
 *   in place (N writes).
 *
 * {@link fusedSelfAttention} (native GEMM path only): multi-head attention
 * read in place from a fused q|k|v projection — strided GEMMs instead of a
 * split, four head transposes, a head merge, a scale, a mask add and their
 * gradients.
 *
 * Inputs are read and outputs written in place (wasm heap views, cpu value
 * arrays). Where an op declines (other backends, e.g. `tensorflow`; shapes
 * it does not cover; `PEFT_TS_FUSED=0`) it returns `undefined` and callers
 * compose the same computation from ops.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocF32, cpuF32, isCpu, isWasm, sizeOf, wasmF32, wasmI32 } from "./internals.js";
import { activeNativeGemm, withFewThreads } from "./matmul.js";

export const SPARSE_XENT = "PeftSparseSoftmaxXent";
export const SPARSE_XENT_GRAD = "PeftSparseSoftmaxXentGrad";
export const SELF_ATTENTION = "PeftFusedSelfAttention";
export const SELF_ATTENTION_GRAD = "PeftFusedSelfAttentionGrad";

/** `wasm` or `cpu` (the backends whose memory we read in place), else undefined. */
const nameOf = (be: tf.KernelBackend): "wasm" | "cpu" | undefined => (isWasm(be) ? "wasm" : isCpu(be) ? "cpu" : undefined);

/** A float32 view of a tensor's memory (wasm heap or cpu array). */
export const f32 = (be: tf.KernelBackend, t: tf.TensorInfo): Float32Array => {
  if (isWasm(be)) return wasmF32(be, t);
  if (isCpu(be)) {
    const v = cpuF32(be, t);
    if (v !== undefined) return v;
  }
  throw new Error("[peft-ts] fused kernel: float32 tensor memory not readable");
};

/** An int32 view (labels). */
const i32 = (be: tf.KernelBackend, t: tf.TensorInfo): Int32Array | Float32Array => {
  if (isWasm(be)) return wasmI32(be, t);
  if (isCpu(be)) {
    const v = be.data.get(t.dataId)?.values;
    if (v instanceof Int32Array || v instanceof Float32Array) return v;
  }
  throw new Error("[peft-ts] fused kernel: int32 tensor memory not readable");
};

/** Run the backend's registered kernel `name`. */
const run = (name: string, be: tf.KernelBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo => {
  const bn = nameOf(be);
  const f = bn === undefined ? undefined : tf.getKernel(name, bn)?.kernelFunc;
  if (f === undefined) throw new Error(`[peft-ts] fused kernel: no ${name} kernel on this backend`);
  return f({ inputs, attrs, backend: be }) as tf.TensorInfo;
};

const free = (be: tf.KernelBackend, t: tf.TensorInfo): void => {
  be.disposeData(t.dataId);
};

// ---------------------------------------------------------------------------
// sparse softmax cross-entropy

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
const sparseXentKernel: tf.KernelFunc = (args) => {
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
const sparseXentGradKernel: tf.KernelFunc = (args) => {
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

/** A one-input `tf.customGrad` body, typed as tfjs wants it (inputs and the save function share one rest parameter). */
type OneInput = (
  x: tf.Tensor,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };
export const asCustom = (f: OneInput): Parameters<typeof tf.customGrad>[0] => f as unknown as Parameters<typeof tf.customGrad>[0];

let enabled: boolean | undefined;

/**
 * Turn the fused ops on or off (default: on, unless `PEFT_TS_FUSED=0`); off,
 * every caller takes its composite form. For A/B measurements and debugging.
 */
export const setFused = (on: boolean | undefined): void => {
  enabled = on;
};

/** Whether the fused ops are on (see {@link setFused}). */
export const fusedEnabled = (): boolean => enabled ?? process.env["PEFT_TS_FUSED"] !== "0";

/** Whether the fused kernel `name` is enabled and registered for the active backend. */
export const hasFused = (name: string): boolean => fusedEnabled() && tf.getKernel(name, tf.getBackend()) !== undefined;

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

// ---------------------------------------------------------------------------
// self-attention over a fused q|k|v projection (native GEMM only)

/** The per-head products are ~1 MFLOP: one OpenBLAS thread (see matmul.ts `SINGLE_THREAD_FLOPS`). */
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

/**
 * out[b, :, h·hd:(h+1)·hd] = softmax(scale·Q_bh·K_bhᵀ + bias_b)·V_bh, where
 * Q_bh, K_bh, V_bh are column blocks of qkv [B, T, 3D] read in place (the
 * GEMM's leading dimension is 3D: no split, no head transposes), the scores
 * start as a copy of the mask (`beta = 1`), the softmax is the backend's
 * kernel, and each head's output is written straight into its columns of
 * out [B, T, D] (no head merge). Outputs: out and the probabilities
 * [B, H, T, T] (kept for the gradient).
 */
const selfAttentionKernel: tf.KernelFunc = (args) => onOneThread(() => selfAttentionOn(args));

const selfAttentionOn: tf.KernelFunc = (args) => {
  const { qkv, bias } = args.inputs as { qkv: tf.TensorInfo; bias?: tf.TensorInfo };
  const { heads, scale } = args.attrs as unknown as AttentionAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = activeNativeGemm();
  if (g === undefined) throw new Error("[peft-ts] fused self-attention needs the native GEMM");
  const { b: B, t: T, d: D, d3: D3, hd } = attentionDims(qkv, heads);
  const TT = T * T;
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
const selfAttentionGradKernel: tf.KernelFunc = (args) => onOneThread(() => selfAttentionGradOn(args));

const selfAttentionGradOn: tf.KernelFunc = (args) => {
  const { dy, qkv, probs } = args.inputs as { dy: tf.TensorInfo; qkv: tf.TensorInfo; probs: tf.TensorInfo };
  const { heads, scale } = args.attrs as unknown as AttentionAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = activeNativeGemm();
  if (g === undefined) throw new Error("[peft-ts] fused self-attention needs the native GEMM");
  const { b: B, t: T, d: D, d3: D3, hd } = attentionDims(qkv, heads);
  const TT = T * T;
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

// ---------------------------------------------------------------------------
// registration

const KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [SPARSE_XENT, sparseXentKernel],
  [SPARSE_XENT_GRAD, sparseXentGradKernel],
  [SELF_ATTENTION, selfAttentionKernel],
  [SELF_ATTENTION_GRAD, selfAttentionGradKernel],
];

/** Register the fused kernels on `backends` (idempotent); returns `backend/name` for each. */
export const registerFused = (backends: ReadonlyArray<string>): string[] => {
  const done: string[] = [];
  for (const backendName of backends) {
    for (const [kernelName, kernelFunc] of KERNELS) {
      if (tf.getKernel(kernelName, backendName) === undefined) tf.registerKernel({ kernelName, backendName, kernelFunc });
      done.push(`${backendName}/${kernelName}`);
    }
  }
  return done;
};
