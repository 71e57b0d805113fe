/**
 * LayerNorm, tanh-GELU and the AdamW update as single kernels over the native addon
 * (`native/peft_kernels.c`), registered on the `wasm` and `cpu` backends with
 * registered gradients. What they replace, per call on the shared GPT-2
 * workload ([8, 128, 256] LayerNorm, [8, 128, 1024] GELU): a LayerNorm forward
 * of ~7 backend kernels (mean, sub, square, mean, add, rsqrt, mul, mul, add)
 * and a backward of ~11, a GELU forward of ~6 and a backward of ~8, each a
 * full pass over memory; here one pass forward and one backward each. An
 * AdamW update is 13 small kernels per parameter op by op (~400 for the
 * 32 LoRA tensors of that workload); here one.
 *
 * The gradients are registered with `tf.registerGradient`, not
 * `tf.customGrad`: tfjs calls a registered gradient's per-input functions
 * only for inputs on the path to the requested variables, so the frozen
 * LayerNorm weight and bias of a LoRA model cost nothing in the backward pass
 * (a custom gradient computes all of them).
 *
 * The ops return `undefined` where they do not apply — no native kernels
 * (addon missing or older, `PEFT_TS_GEMM=js|stock`), `PEFT_TS_FUSED=0`,
 * another backend, another dtype — and callers (src/nn/norm.ts,
 * src/nn/activation.ts) take their composite forms.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocF32, sizeOf } from "./internals.js";
import { f32, fusedEnabled } from "./fused.js";
import { activeNativeGemm } from "./matmul.js";
import type { NativeKernels } from "./gemm.js";

export const LAYER_NORM = "PeftLayerNorm";
export const LAYER_NORM_GRAD_X = "PeftLayerNormGradX";
export const LAYER_NORM_GRAD_PARAMS = "PeftLayerNormGradParams";
export const GELU_TANH = "PeftGeluTanh";
export const GELU_TANH_GRAD = "PeftGeluTanhGrad";
export const ADAMW = "PeftAdamW";

/** The addon's kernels, when it is the active GEMM path and was built with them. */
const nativeKernels = (): NativeKernels | undefined => {
  const g = activeNativeGemm();
  return g !== undefined && typeof (g as Partial<NativeKernels>).adamw === "function" ? (g as unknown as NativeKernels) : undefined;
};

const need = (): NativeKernels => {
  const k = nativeKernels();
  if (k === undefined) throw new Error("[peft-ts] native LayerNorm/GELU kernels are not available");
  return k;
};

/** [n, d]: the rows and the last axis of a tensor. */
const rows = (t: tf.TensorInfo): [number, number] => {
  const d = t.shape[t.shape.length - 1] ?? 1;
  return [d === 0 ? 0 : sizeOf(t.shape) / d, d];
};

// ---------------------------------------------------------------------------
// LayerNorm

interface LayerNormInputs {
  x: tf.TensorInfo;
  gamma: tf.TensorInfo;
  beta: tf.TensorInfo;
}

/** y = (x − μ)·rstd·γ + β over the last axis; outputs y, μ [n], rstd [n]. */
const layerNormKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, gamma, beta } = inputs as unknown as LayerNormInputs;
  const { eps } = attrs as unknown as { eps: number };
  const be = backend as tf.KernelBackend;
  const [n, d] = rows(x);
  const y = allocF32(be, [...x.shape]);
  const mean = allocF32(be, [n]);
  const rstd = allocF32(be, [n]);
  need().layerNorm(f32(be, x), f32(be, gamma), f32(be, beta), y.view(), mean.view(), rstd.view(), n, d, eps);
  return [y.info, mean.info, rstd.info];
};

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ, x̂ = (x − μ)·rstd. */
const layerNormGradXKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, gamma, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
  const be = backend as tf.KernelBackend;
  const [n, d] = rows(x as tf.TensorInfo);
  const dx = allocF32(be, [...(x as tf.TensorInfo).shape]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  need().layerNormGradX(v(dy), v(x), v(gamma), v(mean), v(rstd), dx.view(), n, d);
  return dx.info;
};

/** dγ = Σ dy·x̂ (`param: "gamma"`) or dβ = Σ dy (`param: "beta"`), summed over the rows. */
const layerNormGradParamsKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, x, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
  const { param } = attrs as unknown as { param: "gamma" | "beta" };
  const be = backend as tf.KernelBackend;
  const [n, d] = rows(x as tf.TensorInfo);
  const out = allocF32(be, [d]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  const o = out.view();
  need().layerNormGradParams(v(dy), v(x), v(mean), v(rstd), param === "gamma" ? o : null, param === "beta" ? o : null, n, d);
  return out.info;
};

const layerNormGrad: tf.GradConfig = {
  kernelName: LAYER_NORM,
  inputsToSave: ["x", "gamma"],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [x, gamma, mean, rstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const params = (param: "gamma" | "beta") => () =>
      tf.engine().runKernel(LAYER_NORM_GRAD_PARAMS, { dy, x, mean, rstd }, { param }) as tf.Tensor;
    return {
      x: () => tf.engine().runKernel(LAYER_NORM_GRAD_X, { dy, x, gamma, mean, rstd }) as tf.Tensor,
      gamma: params("gamma"),
      beta: params("beta"),
    };
  },
};

/**
 * torch's LayerNorm over the last axis, (x − μ)/√(var + eps)·γ + β (biased
 * variance), as one native kernel with a registered gradient; `undefined`
 * when it does not apply (see the module comment). γ and β [D] are both
 * required.
 *
 * @example
 *   const y = layerNormNative(x, 1e-5, w, b) ?? layerNormComposite(x, 1e-5, w, b)
 */
export const layerNormNative = (x: tf.Tensor, eps: number, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor | undefined => {
  if (!fusedEnabled() || nativeKernels() === undefined || !onOurBackend()) return undefined;
  const d = x.shape[x.rank - 1];
  if (x.rank < 1 || d === undefined || d === 0 || x.dtype !== "float32" || gamma.dtype !== "float32" || beta.dtype !== "float32") return undefined;
  if (gamma.rank !== 1 || beta.rank !== 1 || gamma.shape[0] !== d || beta.shape[0] !== d) return undefined;
  const [y] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as tf.Tensor[];
  return y;
};

// ---------------------------------------------------------------------------
// GELU (tanh form)

const geluTanhKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const be = backend as tf.KernelBackend;
  const y = allocF32(be, [...x.shape]);
  need().geluTanh(f32(be, x), y.view(), sizeOf(x.shape));
  return y.info;
};

const geluTanhGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const be = backend as tf.KernelBackend;
  const dx = allocF32(be, [...x.shape]);
  need().geluTanhGrad(f32(be, dy), f32(be, x), dx.view(), sizeOf(x.shape));
  return dx.info;
};

const geluTanhGrad: tf.GradConfig = {
  kernelName: GELU_TANH,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => ({
    x: () => tf.engine().runKernel(GELU_TANH_GRAD, { dy: dy as tf.Tensor, x: saved[0] as tf.Tensor }) as tf.Tensor,
  }),
};

/**
 * GELU, tanh approximation (`gelu_new`), x·σ(2·√(2/π)·(x + 0.044715·x³)), as
 * one native kernel with a registered gradient; `undefined` when it does not
 * apply (see the module comment).
 */
export const geluTanhNative = (x: tf.Tensor): tf.Tensor | undefined => {
  if (!fusedEnabled() || nativeKernels() === undefined || !onOurBackend() || x.dtype !== "float32") return undefined;
  return tf.engine().runKernel(GELU_TANH, { x }) as tf.Tensor;
};

// ---------------------------------------------------------------------------
// AdamW

/** torch.optim.AdamW's per-step constants, as src/train/optim/adamw.ts computes them (float64, rounded once to float32 by the kernel). */
export interface AdamWStep {
  readonly decay: number;
  readonly b1: number;
  readonly c1: number;
  readonly b2: number;
  readonly c2: number;
  readonly stepSize: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
}

const adamwKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { p, g, m, v } = inputs as Record<string, tf.TensorInfo>;
  const h = attrs as unknown as AdamWStep;
  const be = backend as tf.KernelBackend;
  const shape = [...(p as tf.TensorInfo).shape];
  const outs = [allocF32(be, shape), allocF32(be, shape), allocF32(be, shape)] as const;
  const at = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  need().adamw(
    at(p), at(g), at(m), at(v), outs[0].view(), outs[1].view(), outs[2].view(), sizeOf(shape),
    h.decay, h.b1, h.c1, h.b2, h.c2, h.stepSize, h.bc2Sqrt, h.eps,
  );
  return outs.map((o) => o.info);
};

/**
 * One AdamW update of one parameter as a single kernel: [p', m', v'] with
 * m' = β1·m + c1·g, v' = β2·v + c2·g², p' = p·decay − stepSize·m'/(√v'/bc2Sqrt + eps)
 * — the same float32 operations, in the same order, as the op-by-op form in
 * src/train/optim/adamw.ts (13 kernels per parameter there). `undefined`
 * where it does not apply (see the module comment; all four float32, one shape).
 */
export const adamwNative = (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, step: AdamWStep): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined => {
  if (!fusedEnabled() || nativeKernels() === undefined || !onOurBackend()) return undefined;
  const ts = [p, g, m, v];
  if (!ts.every((t) => t.dtype === "float32" && tf.util.arraysEqual(t.shape, p.shape))) return undefined;
  return tf.engine().runKernel(ADAMW, { p, g, m, v }, { ...step }) as [tf.Tensor, tf.Tensor, tf.Tensor];
};

// ---------------------------------------------------------------------------
// registration

const onOurBackend = (): boolean => tf.getKernel(LAYER_NORM, tf.getBackend()) !== undefined;

const KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [LAYER_NORM, layerNormKernel],
  [LAYER_NORM_GRAD_X, layerNormGradXKernel],
  [LAYER_NORM_GRAD_PARAMS, layerNormGradParamsKernel],
  [GELU_TANH, geluTanhKernel],
  [GELU_TANH_GRAD, geluTanhGradKernel],
  [ADAMW, adamwKernel],
];

/** Register the kernels on `backends` and their gradients (idempotent); returns `backend/name` for each. */
export const registerNativeKernels = (backends: ReadonlyArray<string>): string[] => {
  const done: string[] = [];
  for (const backendName of backends) {
    for (const [kernelName, kernelFunc] of KERNELS) {
      if (tf.getKernel(kernelName, backendName) === undefined) tf.registerKernel({ kernelName, backendName, kernelFunc });
      done.push(`${backendName}/${kernelName}`);
    }
  }
  if (tf.getGradient(LAYER_NORM) === undefined) tf.registerGradient(layerNormGrad);
  if (tf.getGradient(GELU_TANH) === undefined) tf.registerGradient(geluTanhGrad);
  return done;
};
