/**
 * `Sum` over a contiguous block of axes of a float32 tensor, on wasm and cpu.
 *
 * Why: a bias gradient is the sum of dy over its leading axes (tfjs's `Add`
 * gradient), and tfjs-backend-wasm reduces only over the last axes — for any
 * other axis it transposes the whole input first. On the shared GPT-2
 * workload's full fine-tuning step, the 18 bias gradients ([1024, 768…1024]
 * summed over axis 0) took ~85 ms of ~340. Here the input is read in place as
 * [outer, reduced, inner] and summed in one pass, in float64 (rounded once to
 * float32: at least as accurate as the stock kernels' float32 running sums).
 *
 * Anything else — other dtypes, axes that are not one contiguous block —
 * goes to the stock kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocF32, sizeOf } from "./internals.js";
import { f32 } from "./fused.js";
import { override, stockKernel } from "./registry.js";

/** [outer, reduced, inner] if `axes` (sorted, distinct) are one contiguous block of `shape`'s axes. */
export const reductionBlock = (shape: ReadonlyArray<number>, axes: ReadonlyArray<number>): [number, number, number] | undefined => {
  if (axes.length === 0) return undefined;
  const first = axes[0] as number;
  for (let k = 1; k < axes.length; k++) if (axes[k] !== first + k) return undefined;
  const last = first + axes.length;
  return [sizeOf(shape.slice(0, first)), sizeOf(shape.slice(first, last)), sizeOf(shape.slice(last))];
};

/** out[o, i] = Σ_r x[o, r, i], accumulated in float64. */
export const sumBlock = (x: Float32Array, outer: number, reduced: number, inner: number, out: Float32Array): void => {
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    const base = o * reduced * inner;
    if (inner === 1) {
      let s = 0;
      for (let r = 0; r < reduced; r++) s += x[base + r] as number;
      acc[0] = s;
    } else {
      for (let r = 0; r < reduced; r++) {
        const row = base + r * inner;
        for (let i = 0; i < inner; i++) acc[i] = (acc[i] as number) + (x[row + i] as number);
      }
    }
    out.set(acc, o * inner);
  }
};

const sumKernel =
  (backendName: string): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    const block = x.dtype === "float32" ? reductionBlock(x.shape, axes) : undefined;
    if (block === undefined || sizeOf(x.shape) === 0) {
      const f = stockKernel(tf.Sum, backendName);
      if (f === undefined) throw new Error(`[peft-ts] no stock Sum kernel on ${backendName}`);
      return f(args);
    }
    const be = args.backend as tf.KernelBackend;
    const outShape = keepDims ? x.shape.map((d, k) => (axes.includes(k) ? 1 : d)) : x.shape.filter((_, k) => !axes.includes(k));
    const out = allocF32(be, outShape);
    const [outer, reduced, inner] = block;
    sumBlock(f32(be, x), outer, reduced, inner, out.view());
    return out.info;
  };

/** Register the `Sum` kernel on `backends`; returns `backend/Sum` for each. */
export const registerReduce = (backends: ReadonlyArray<string>): string[] =>
  backends.flatMap((backend) => {
    if (tf.getKernel(tf.Sum, backend) === undefined) return [];
    override(tf.Sum, backend, sumKernel(backend));
    return [`${backend}/${tf.Sum}`];
  });
