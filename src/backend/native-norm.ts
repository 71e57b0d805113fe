/**
 * LayerNorm and RMSNorm as single kernels over the native addon
 * (native/peft_norm.c), on the `wasm` and `cpu` backends, with registered
 * gradients. Per call on the shared GPT-2 workload ([8, 128, 256]), a
 * LayerNorm made ~7 backend kernels forward and ~11 backward, each a full
 * pass over memory; here one pass each way (RMSNorm: ~5 and ~9).
 *
 * The gradients are registered with `tf.registerGradient`, not
 * `tf.customGrad`: tfjs calls a registered gradient's per-input functions
 * only for inputs on the path to the requested variables, so the frozen norm
 * weights of a LoRA model cost nothing in the backward pass (a custom
 * gradient computes all of them).
 *
 * The ops return `undefined` where they do not apply (./native.ts) and
 * src/nn/norm.ts takes its composite forms.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocF32 } from "./internals.js";
import { f32 } from "./fused.js";
import { native, nativeApplies, rowsOf } from "./native.js";
import { registerKernels } from "./registry.js";

export const LAYER_NORM = "PeftLayerNorm";
export const LAYER_NORM_GRAD_X = "PeftLayerNormGradX";
export const LAYER_NORM_GRAD_PARAMS = "PeftLayerNormGradParams";
export const RMS_NORM = "PeftRmsNorm";
export const RMS_NORM_GRAD_X = "PeftRmsNormGradX";
export const RMS_NORM_GRAD_W = "PeftRmsNormGradW";

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
  const [n, d] = rowsOf(x);
  const y = allocF32(be, [...x.shape]);
  const mean = allocF32(be, [n]);
  const rstd = allocF32(be, [n]);
  native().layerNorm(f32(be, x), f32(be, gamma), f32(be, beta), y.view(), mean.view(), rstd.view(), n, d, eps);
  return [y.info, mean.info, rstd.info];
};

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ, x̂ = (x − μ)·rstd. */
const layerNormGradXKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, gamma, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
  const be = backend as tf.KernelBackend;
  const [n, d] = rowsOf(x as tf.TensorInfo);
  const dx = allocF32(be, [...(x as tf.TensorInfo).shape]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  native().layerNormGradX(v(dy), v(x), v(gamma), v(mean), v(rstd), dx.view(), n, d);
  return dx.info;
};

/** dγ = Σ dy·x̂ (`param: "gamma"`) or dβ = Σ dy (`param: "beta"`), summed over the rows. */
const layerNormGradParamsKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, x, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
  const { param } = attrs as unknown as { param: "gamma" | "beta" };
  const be = backend as tf.KernelBackend;
  const [n, d] = rowsOf(x as tf.TensorInfo);
  const out = allocF32(be, [d]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  const o = out.view();
  native().layerNormGradParams(v(dy), v(x), v(mean), v(rstd), param === "gamma" ? o : null, param === "beta" ? o : null, n, d);
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
  if (!nativeApplies(LAYER_NORM)) return undefined;
  const d = x.shape[x.rank - 1];
  if (x.rank < 1 || d === undefined || d === 0 || x.dtype !== "float32" || gamma.dtype !== "float32" || beta.dtype !== "float32") return undefined;
  if (gamma.rank !== 1 || beta.rank !== 1 || gamma.shape[0] !== d || beta.shape[0] !== d) return undefined;
  const [y] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as tf.Tensor[];
  return y;
};

// ---------------------------------------------------------------------------
// RMSNorm

/** y = x·rstd·w over the last axis, rstd = 1/√(mean(x²) + eps); outputs y and rstd [n]. */
const rmsNormKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, gamma } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo };
  const { eps } = attrs as unknown as { eps: number };
  const be = backend as tf.KernelBackend;
  const [n, d] = rowsOf(x);
  const y = allocF32(be, [...x.shape]);
  const rstd = allocF32(be, [n]);
  native().rmsNorm(f32(be, x), f32(be, gamma), y.view(), rstd.view(), n, d, eps);
  return [y.info, rstd.info];
};

/** dx = rstd·(g − x̂·mean(g·x̂)), g = dy·w, x̂ = x·rstd. */
const rmsNormGradXKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, gamma, rstd } = inputs as Record<string, tf.TensorInfo>;
  const be = backend as tf.KernelBackend;
  const [n, d] = rowsOf(x as tf.TensorInfo);
  const dx = allocF32(be, [...(x as tf.TensorInfo).shape]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  const o = dx.view();
  native().rmsNormGradX(v(dy), v(x), v(gamma), v(rstd), o, n, d);
  return dx.info;
};

/** dw = Σ dy·x̂ over the rows. */
const rmsNormGradWKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x, rstd } = inputs as Record<string, tf.TensorInfo>;
  const be = backend as tf.KernelBackend;
  const [n, d] = rowsOf(x as tf.TensorInfo);
  const dw = allocF32(be, [d]);
  const v = (t: tf.TensorInfo | undefined) => f32(be, t as tf.TensorInfo);
  const o = dw.view();
  native().rmsNormGradW(v(dy), v(x), v(rstd), o, n, d);
  return dw.info;
};

const rmsNormGrad: tf.GradConfig = {
  kernelName: RMS_NORM,
  inputsToSave: ["x", "gamma"],
  outputsToSave: [false, true],
  gradFunc: (dys, saved) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [x, gamma, rstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
    return {
      x: () => tf.engine().runKernel(RMS_NORM_GRAD_X, { dy, x, gamma, rstd }) as tf.Tensor,
      gamma: () => tf.engine().runKernel(RMS_NORM_GRAD_W, { dy, x, rstd }) as tf.Tensor,
    };
  },
};

/**
 * LLaMA's RMSNorm over the last axis, x/√(mean(x²) + eps)·w, as one native
 * kernel with a registered gradient; `undefined` when it does not apply.
 * The weight w [D] is required.
 *
 * @example
 *   const y = rmsNormNative(x, 1e-6, w) ?? rmsNormComposite(x, 1e-6, w)
 */
export const rmsNormNative = (x: tf.Tensor, eps: number, gamma: tf.Tensor): tf.Tensor | undefined => {
  if (!nativeApplies(RMS_NORM)) return undefined;
  const d = x.shape[x.rank - 1];
  if (x.rank < 1 || d === undefined || d === 0 || x.dtype !== "float32" || gamma.dtype !== "float32" || gamma.rank !== 1 || gamma.shape[0] !== d) return undefined;
  const [y] = tf.engine().runKernel(RMS_NORM, { x, gamma }, { eps }) as tf.Tensor[];
  return y;
};

/** Register the norm kernels on `backends` and their gradients. */
export const registerNativeNorm = (backends: ReadonlyArray<string>): string[] =>
  registerKernels(
    backends,
    [
      [LAYER_NORM, layerNormKernel],
      [LAYER_NORM_GRAD_X, layerNormGradXKernel],
      [LAYER_NORM_GRAD_PARAMS, layerNormGradParamsKernel],
      [RMS_NORM, rmsNormKernel],
      [RMS_NORM_GRAD_X, rmsNormGradXKernel],
      [RMS_NORM_GRAD_W, rmsNormGradWKernel],
    ],
    [layerNormGrad, rmsNormGrad],
  );
