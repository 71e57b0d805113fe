/**
 * Element-wise kernels over the native addon (native/peft_pointwise.c), on
 * the `wasm` and `cpu` backends: the tanh form of GELU with a registered
 * gradient (per [8, 128, 1024] call on the shared GPT-2 workload ~6 backend
 * kernels forward and ~8 backward there, one pass each here) and one AdamW
 * update per parameter (13 small kernels op by op, ~400 per step for the
 * 32 LoRA tensors of that workload; one here, bit for bit the same).
 *
 * The ops return `undefined` where they do not apply (./native.ts) and
 * callers (src/nn/activation.ts, src/train/optim/adamw.ts) take their
 * op-by-op forms.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocF32, sizeOf } from "./internals.js";
import { f32 } from "./fused.js";
import { native, nativeApplies } from "./native.js";
import { registerKernels } from "./registry.js";

export const GELU_TANH = "PeftGeluTanh";
export const GELU_TANH_GRAD = "PeftGeluTanhGrad";
export const ADAMW = "PeftAdamW";

// ---------------------------------------------------------------------------
// GELU (tanh form)

const geluTanhKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const be = backend as tf.KernelBackend;
  const y = allocF32(be, [...x.shape]);
  native().geluTanh(f32(be, x), y.view(), sizeOf(x.shape));
  return y.info;
};

const geluTanhGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const be = backend as tf.KernelBackend;
  const dx = allocF32(be, [...x.shape]);
  native().geluTanhGrad(f32(be, dy), f32(be, x), dx.view(), sizeOf(x.shape));
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
  if (!nativeApplies(GELU_TANH) || x.dtype !== "float32") return undefined;
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
  native().adamw(
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
  if (!nativeApplies(ADAMW)) return undefined;
  const ts = [p, g, m, v];
  if (!ts.every((t) => t.dtype === "float32" && tf.util.arraysEqual(t.shape, p.shape))) return undefined;
  return tf.engine().runKernel(ADAMW, { p, g, m, v }, { ...step }) as [tf.Tensor, tf.Tensor, tf.Tensor];
};

// ---------------------------------------------------------------------------
// registration

/** Register the element-wise kernels on `backends` and the GELU gradient. */
export const registerNativePointwise = (backends: ReadonlyArray<string>): string[] =>
  registerKernels(
    backends,
    [
      [GELU_TANH, geluTanhKernel],
      [GELU_TANH_GRAD, geluTanhGradKernel],
      [ADAMW, adamwKernel],
    ],
    [geluTanhGrad],
  );
