/**
 * Dense layers over the native GEMM (`wasm` and `cpu` backends): the plain
 * layer y = x·op(W) + b ({@link denseNative}: the bias is the GEMM's starting
 * C, not a separate `Add`), and the fused LoRA layer
 *
 *   y = x·op(W) + b + s·(x·Aᵀ)·Bᵀ
 *
 * for x [N, in], W [in, out] (GPT-2 `Conv1D`, `transposeW = false`) or
 * [out, in] (torch `linear`, `transposeW = true`), an optional bias [out],
 * A [r, in], B [out, r] and a scalar s. The composite form (./../tuners/lora/
 * layer.ts) ran a base product, a bias Add, x·Aᵀ, a scale Multiply of the
 * rank-r intermediate, ·Bᵀ and an [N, out] Add forward, and backward another
 * [N, in] Add of the two branches' dx. Here:
 *
 * - forward ({@link LORA_DENSE}): y's rows start as the bias, then three
 *   GEMMs accumulate into it (`beta = 1`): x·op(W), h = x·Aᵀ into its own
 *   [N, r] output (kept for the gradient), and s·h·Bᵀ (the scale is the
 *   GEMM's alpha). Outputs y and h.
 * - backward (`tf.registerGradient`, one lazy function per input: tfjs's tape
 *   only calls those of inputs on the path to the requested gradients, so a
 *   frozen W costs no dW product and the first layer's dx is skipped too):
 *   t = s·dy·B [N, r] once per node (a tensor of the gradient scope), then
 *   dx = dy·op(W)ᵀ + t·A ({@link LORA_DENSE_DX}, second product accumulated),
 *   dA = tᵀ·x, dB = s·dyᵀ·h ({@link LORA_GEMM}: alpha·op(a)·op(b)),
 *   dW (xᵀ·dy or dyᵀ·x) and db = Σ dy with plain ops (rare: a trainable base).
 *   The h output is internal (the op never returns it): its gradient is
 *   ignored.
 *
 * Products with a rank-r side (~2·N·in·r flops) run on one OpenBLAS thread,
 * the base products on the configured count (see matmul-native.ts
 * `SINGLE_THREAD_FLOPS`).
 *
 * {@link loraDense} returns `undefined` where it does not apply (no native
 * GEMM, fused ops off, non-float32, shapes it does not cover) and callers
 * compose the same computation from ops. `PEFT_TS_FUSED_LORA=0` (or
 * {@link setFusedLora}) turns only this op off, for A/B measurements.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NativeGemm } from "./gemm.js";
import { allocF32 } from "./internals.js";
import { registerKernels } from "./registry.js";
import { f32, fusedEnabled } from "./fused.js";
import { activeNativeGemm } from "./matmul.js";
import { withFewThreads } from "./matmul-native.js";

export const LORA_DENSE = "PeftLoraDense";
export const LORA_DENSE_DX = "PeftLoraDenseDx";
export const LORA_GEMM = "PeftLoraGemm";
export const DENSE = "PeftDense";

const gemmOrThrow = (): NativeGemm => {
  const g = activeNativeGemm();
  if (g === undefined) throw new Error("[peft-ts] lora dense kernels need the native GEMM");
  return g;
};

/** C (M×N, row-major, ldc = N) = alpha·op(A)·op(B) + beta·C, on one thread when small. */
const gemm = (
  g: NativeGemm, ta: boolean, tb: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
): void => {
  if (M === 0 || N === 0) return;
  if (K === 0) {
    if (beta === 0) C.fill(0, 0, M * N);
    return;
  }
  withFewThreads(g, 2 * M * N * K, () => g.sgemm(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N));
};

/** Y [n, m] = X·op(W) + bias: the bias rows first, then the product accumulated onto them (`beta = 1`). Views taken after every allocation. */
const biasPlusProduct = (
  g: NativeGemm, be: tf.KernelBackend, Y: Float32Array, X: Float32Array, w: tf.TensorInfo, bias: tf.TensorInfo | undefined,
  transposeW: boolean, n: number, m: number, k: number,
): void => {
  let beta = 0;
  if (bias != null) {
    const bv = f32(be, bias);
    for (let i = 0; i < n; i++) Y.set(bv, i * m);
    beta = 1;
  }
  gemm(g, false, transposeW, n, m, k, 1, X, f32(be, w), beta, Y);
};

interface DenseAttrs {
  transposeW: boolean;
  scaling: number;
}

/** [y, h]: y = x·op(W) + bias + s·h·Bᵀ, h = x·Aᵀ. */
const loraDenseKernel: tf.KernelFunc = (args) => {
  const { x, w, bias, a, b } = args.inputs as { x: tf.TensorInfo; w: tf.TensorInfo; bias?: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeW, scaling } = args.attrs as unknown as DenseAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = gemmOrThrow();
  const [n, k] = x.shape as [number, number];
  const r = a.shape[0] as number;
  const m = b.shape[0] as number;
  const yOut = allocF32(be, [n, m]);
  const hOut = allocF32(be, [n, r]);
  // views after the last allocation
  const X = f32(be, x);
  const Y = yOut.view();
  const H = hOut.view();
  biasPlusProduct(g, be, Y, X, w, bias, transposeW, n, m, k);
  gemm(g, false, true, n, r, k, 1, X, f32(be, a), 0, H);
  if (r > 0) gemm(g, false, true, n, m, r, scaling, H, f32(be, b), 1, Y);
  return [yOut.info, hOut.info];
};

/** dx = dy·op(W)ᵀ + t·A, for t = s·dy·B [N, r]. */
const loraDenseDxKernel: tf.KernelFunc = (args) => {
  const { dy, w, a, t } = args.inputs as { dy: tf.TensorInfo; w: tf.TensorInfo; a: tf.TensorInfo; t: tf.TensorInfo };
  const { transposeW } = args.attrs as unknown as DenseAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = gemmOrThrow();
  const [n, m] = dy.shape as [number, number];
  const [r, k] = a.shape as [number, number];
  const out = allocF32(be, [n, k]);
  const DX = out.view();
  // y = x·W (W [k, m]): dx = dy·Wᵀ; y = x·Wᵀ (W [m, k]): dx = dy·W
  gemm(g, false, !transposeW, n, k, m, 1, f32(be, dy), f32(be, w), 0, DX);
  gemm(g, false, false, n, k, r, 1, f32(be, t), f32(be, a), 1, DX);
  return out.info;
};

interface GemmAttrs {
  transposeA: boolean;
  transposeB: boolean;
  alpha: number;
}

/** alpha·op(a)·op(b) of 2-D float32 operands. */
const loraGemmKernel: tf.KernelFunc = (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB, alpha } = args.attrs as unknown as GemmAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = gemmOrThrow();
  const M = a.shape[transposeA ? 1 : 0] as number;
  const K = a.shape[transposeA ? 0 : 1] as number;
  const N = b.shape[transposeB ? 0 : 1] as number;
  const out = allocF32(be, [M, N]);
  gemm(g, transposeA, transposeB, M, N, K, alpha, f32(be, a), f32(be, b), 0, out.view());
  return out.info;
};

const scaledProduct = (a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean, alpha: number): tf.Tensor =>
  tf.engine().runKernel(LORA_GEMM, { a, b }, { transposeA, transposeB, alpha }) as tf.Tensor;

/** Gradients of {@link LORA_DENSE}; saved = [x, w, a, b, h]. */
const loraDenseGrad: tf.GradConfig = {
  kernelName: LORA_DENSE,
  inputsToSave: ["x", "w", "a", "b"],
  outputsToSave: [false, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor; // h's gradient is ignored: the op never exposes h
    const [x, w, a, b, h] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const { transposeW, scaling } = attrs as unknown as DenseAttrs;
    // t = s·dy·B [N, r], shared by dx and dA. Made here, outside the
    // per-input scopes (tfjs runs each input's function in its own tidy), so
    // it lives until the gradient computation's scope ends. Wasted only when
    // B alone is differentiated (one N·out·r product).
    const t = scaledProduct(dy, b, false, false, scaling);
    return {
      x: () => tf.engine().runKernel(LORA_DENSE_DX, { dy, w, a, t }, { transposeW }) as tf.Tensor,
      a: () => scaledProduct(t, x, true, false, 1),
      b: () => scaledProduct(dy, h, true, false, scaling),
      w: () => (transposeW ? tf.matMul(dy, x, true, false) : tf.matMul(x, dy, true, false)),
      bias: () => tf.sum(dy, 0),
    };
  },
};

// ---------------------------------------------------------------------------
// the plain dense layer

/** y = x·op(W) + bias: bias rows first, then the product accumulated (beta = 1). */
const denseKernel: tf.KernelFunc = (args) => {
  const { x, w, bias } = args.inputs as { x: tf.TensorInfo; w: tf.TensorInfo; bias?: tf.TensorInfo };
  const { transposeW } = args.attrs as unknown as DenseAttrs;
  const be = args.backend as tf.KernelBackend;
  const g = gemmOrThrow();
  const [n, k] = x.shape as [number, number];
  const m = w.shape[transposeW ? 0 : 1] as number;
  const yOut = allocF32(be, [n, m]);
  biasPlusProduct(g, be, yOut.view(), f32(be, x), w, bias, transposeW, n, m, k);
  return yOut.info;
};

/** Gradients of {@link DENSE} (lazy per input: a frozen W costs no product). */
const denseGrad: tf.GradConfig = {
  kernelName: DENSE,
  inputsToSave: ["x", "w"],
  gradFunc: (dy, saved, attrs) => {
    const [x, w] = saved as [tf.Tensor, tf.Tensor];
    const { transposeW } = attrs as unknown as DenseAttrs;
    const d = dy as tf.Tensor;
    return {
      // y = x·W (W [k, m]): dx = dy·Wᵀ, dW = xᵀ·dy; y = x·Wᵀ (W [m, k]): dx = dy·W, dW = dyᵀ·x
      x: () => scaledProduct(d, w, false, !transposeW, 1),
      w: () => (transposeW ? scaledProduct(d, x, true, false, 1) : scaledProduct(x, d, true, false, 1)),
      bias: () => tf.sum(d, 0),
    };
  },
};

/**
 * `x·op(W) + bias` for a 2-D float32 x [N, in] (callers reshape), W [in, out]
 * (`transposeW = false`) or [out, in] (`transposeW = true`), bias [out]:
 * one kernel, the bias as the GEMM's starting output; gradients only for the
 * inputs that need them. `undefined` where it does not apply (as
 * {@link loraDense}), and callers use `matMul` + `add`.
 *
 * @example
 *   const y = denseNative(x2, w, true, b) ?? tf.add(tf.matMul(x2, w, false, true), b)
 */
export const denseNative = (x: tf.Tensor, w: tf.Tensor, transposeW: boolean, bias: tf.Tensor | undefined): tf.Tensor | undefined => {
  if (activeNativeGemm() === undefined || !fusedEnabled() || tf.getKernel(DENSE, tf.getBackend()) === undefined) return undefined;
  if (![x, w, bias].every(f32Tensor) || x.rank !== 2 || w.rank !== 2 || (bias !== undefined && bias.rank !== 1)) return undefined;
  const [n, k] = x.shape as [number, number];
  const [wk, m] = (transposeW ? [w.shape[1], w.shape[0]] : w.shape) as [number, number];
  if (wk !== k || (bias !== undefined && bias.shape[0] !== m) || n === 0 || k === 0 || m === 0) return undefined;
  return tf.engine().runKernel(DENSE, bias !== undefined ? { x, w, bias } : { x, w }, { transposeW, scaling: 1 }) as tf.Tensor;
};

// ---------------------------------------------------------------------------
// the op

let enabled: boolean | undefined;

/**
 * Turn the fused LoRA dense op on or off (default: on, unless
 * `PEFT_TS_FUSED_LORA=0` or the fused ops are off, see `setFused`). For A/B
 * measurements and debugging.
 */
export const setFusedLora = (on: boolean | undefined): void => {
  enabled = on;
};

/** Whether {@link loraDense} may run (see {@link setFusedLora}). */
export const fusedLoraEnabled = (): boolean => fusedEnabled() && (enabled ?? process.env["PEFT_TS_FUSED_LORA"] !== "0");

const f32Tensor = (t: tf.Tensor | undefined): boolean => t === undefined || t.dtype === "float32";

/**
 * `x·op(W) + bias + scaling·(x·Aᵀ)·Bᵀ` for a 2-D x [N, in] (callers reshape),
 * W [in, out] (`transposeW = false`, GPT-2 Conv1D) or [out, in]
 * (`transposeW = true`, torch linear), bias [out], A [r, in], B [out, r]; the
 * gradients w.r.t. every input are fused kernels (dW, db plain ops) and only
 * those on the path to the requested gradients are computed. `undefined`
 * where it does not apply: no native GEMM, fused ops off, another backend,
 * non-float32, empty or mismatched shapes.
 *
 * @example
 *   const y = loraDense(x2, w, false, bias, a, b, 2) ?? composite(x2)
 */
export const loraDense = (
  x: tf.Tensor, w: tf.Tensor, transposeW: boolean, bias: tf.Tensor | undefined, a: tf.Tensor, b: tf.Tensor, scaling: number,
): tf.Tensor | undefined => {
  if (activeNativeGemm() === undefined || !fusedLoraEnabled() || tf.getKernel(LORA_DENSE, tf.getBackend()) === undefined) return undefined;
  if (![x, w, a, b, bias].every(f32Tensor)) return undefined;
  if (x.rank !== 2 || w.rank !== 2 || a.rank !== 2 || b.rank !== 2 || (bias !== undefined && bias.rank !== 1)) return undefined;
  if (!Number.isFinite(scaling)) return undefined;
  const [n, k] = x.shape as [number, number];
  const [wk, m] = (transposeW ? [w.shape[1], w.shape[0]] : w.shape) as [number, number];
  const [r, ak] = a.shape as [number, number];
  if (wk !== k || ak !== k || b.shape[0] !== m || b.shape[1] !== r || (bias !== undefined && bias.shape[0] !== m)) return undefined;
  if (n === 0 || k === 0 || m === 0 || r === 0) return undefined;
  const inputs: tf.NamedTensorMap = bias !== undefined ? { x, w, bias, a, b } : { x, w, a, b };
  const [y, h] = tf.engine().runKernel(LORA_DENSE, inputs, { transposeW, scaling }) as tf.Tensor[];
  (h as tf.Tensor).dispose(); // the tape keeps its own reference when recording
  return y as tf.Tensor;
};

// ---------------------------------------------------------------------------
// registration

const KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [LORA_DENSE, loraDenseKernel],
  [LORA_DENSE_DX, loraDenseDxKernel],
  [LORA_GEMM, loraGemmKernel],
  [DENSE, denseKernel],
];

/** Register the dense kernels on `backends` and their gradients (idempotent); returns `backend/name` for each. */
export const registerDense = (backends: ReadonlyArray<string>): string[] => registerKernels(backends, KERNELS, [loraDenseGrad, denseGrad]);
