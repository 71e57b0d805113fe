/**
 * Fused kernels with hand-written gradients for the hot non-GEMM parts of a
 * transformer training step, registered on the `wasm` and `cpu` backends
 * (./fused-kernels.ts), and the ops over them (each a `tf.customGrad` whose
 * gradient is one more kernel): ./softmax-xent.ts
 * (`sparseSoftmaxCrossEntropy`) and ./attention.ts (`fusedSelfAttention`).
 * Measured on the shared LoRA GPT-2 workload (`bench/profile.ts`).
 *
 * This module holds what they share — the switch ({@link setFused},
 * {@link fusedEnabled}, {@link hasFused}) and helpers to read tensor memory,
 * run a backend kernel and type a `tf.customGrad` body — which
 * ./native-norm.ts, ./native-pointwise.ts, ./dense.ts, ./reduce.ts and src/nn use too.
 *
 * Inputs are read and outputs written in place (wasm heap views, cpu value
 * arrays). Where an op declines (other backends, e.g. `tensorflow`; shapes
 * it does not cover; `PEFT_TS_FUSED=0`) it returns `undefined` and callers
 * compose the same computation from ops.
 */
import * as tf from "@tensorflow/tfjs-core";
import { cpuF32, isCpu, isWasm, wasmF32, wasmI32 } from "./internals.js";

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
export const i32 = (be: tf.KernelBackend, t: tf.TensorInfo): Int32Array | Float32Array => {
  if (isWasm(be)) return wasmI32(be, t);
  if (isCpu(be)) {
    const v = be.data.get(t.dataId)?.values;
    if (v instanceof Int32Array || v instanceof Float32Array) return v;
  }
  throw new Error("[peft-ts] fused kernel: int32 tensor memory not readable");
};

/** Run the backend's registered kernel `name`. */
export const run = (name: string, be: tf.KernelBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo => {
  const bn = nameOf(be);
  const f = bn === undefined ? undefined : tf.getKernel(name, bn)?.kernelFunc;
  if (f === undefined) throw new Error(`[peft-ts] fused kernel: no ${name} kernel on this backend`);
  return f({ inputs, attrs, backend: be }) as tf.TensorInfo;
};

/** Dispose a kernel intermediate. */
export const free = (be: tf.KernelBackend, t: tf.TensorInfo): void => {
  be.disposeData(t.dataId);
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
