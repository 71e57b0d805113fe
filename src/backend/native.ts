/**
 * What the native kernel modules share (./native-norm.ts,
 * ./native-pointwise.ts): the addon's kernels when they apply, and the
 * [rows, last axis] view of a tensor.
 *
 * The kernels apply where the native GEMM is the active path (so
 * `PEFT_TS_GEMM=js|stock` switches them off with it), the addon was built
 * with them, the fused ops are on (`PEFT_TS_FUSED=0` switches them off) and
 * the backend is one whose memory they read in place (wasm, cpu). Elsewhere
 * the ops return `undefined` and callers take their composite forms.
 */
import * as tf from "@tensorflow/tfjs-core";
import { sizeOf } from "./internals.js";
import { fusedEnabled } from "./fused.js";
import { activeNativeGemm } from "./matmul.js";
import type { NativeKernels } from "./gemm.js";

/** The addon's kernels, when it is the active GEMM path and was built with them. */
const loaded = (): NativeKernels | undefined => {
  const g = activeNativeGemm();
  return g !== undefined && typeof (g as Partial<NativeKernels>).rmsNorm === "function" ? (g as unknown as NativeKernels) : undefined;
};

/** Whether the native op whose forward kernel is `kernel` may run now (see the module comment). */
export const nativeApplies = (kernel: string): boolean =>
  fusedEnabled() && loaded() !== undefined && tf.getKernel(kernel, tf.getBackend()) !== undefined;

/** The addon's kernels, inside a kernel function (where {@link nativeApplies} held). */
export const native = (): NativeKernels => {
  const k = loaded();
  if (k === undefined) throw new Error("[peft-ts] the native kernels are not available (addon missing, older, or not the active path)");
  return k;
};

/** [n, d]: the rows and the last axis of a tensor. */
export const rowsOf = (t: tf.TensorInfo): [number, number] => {
  const d = t.shape[t.shape.length - 1] ?? 1;
  return [d === 0 ? 0 : sizeOf(t.shape) / d, d];
};
