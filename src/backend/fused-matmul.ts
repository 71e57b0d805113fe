/**
 * The `_FusedMatMul` kernel of ./matmul.ts: the product on the installed path
 * (passed in as a {@link Product}), then the broadcast bias and the fused
 * activation applied in place on the output. Activations or dtypes it does
 * not cover go to the stock kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import { cpuF32, isCpu, isWasm, sizeOf, wasmF32, type CpuBackend } from "./internals.js";
import { batchIndexer, type MatMulAttrs } from "./matmul-plan.js";
import { stockKernel } from "./registry.js";

interface FusedAttrs extends MatMulAttrs {
  activation: "linear" | "relu" | "relu6" | "prelu" | "leakyrelu" | "elu" | "sigmoid";
  leakyreluAlpha?: number;
}

/** For each flat index of `outShape`, the flat index into an operand of `shape` broadcast to it. */
const broadcastMap = (shape: ReadonlyArray<number>, outShape: ReadonlyArray<number>): ((i: number) => number) | "row" | "same" | "scalar" => {
  const n = outShape[outShape.length - 1] as number;
  const size = sizeOf(shape);
  if (size === 1) return "scalar";
  if (size === sizeOf(outShape) && shape.length <= outShape.length) return "same";
  if (size === n && (shape[shape.length - 1] as number) === n) return "row";
  const idx = batchIndexer(shape, outShape);
  return idx;
};

/** Add `bias` (broadcast) to `C` in place. */
const addBroadcast = (C: Float32Array, bias: Float32Array, map: ReturnType<typeof broadcastMap>, n: number): void => {
  if (map === "scalar") {
    const v = bias[0] as number;
    for (let i = 0; i < C.length; i++) C[i] = (C[i] as number) + v;
  } else if (map === "same") {
    for (let i = 0; i < C.length; i++) C[i] = (C[i] as number) + (bias[i] as number);
  } else if (map === "row") {
    for (let r = 0; r < C.length; r += n) {
      for (let j = 0; j < n; j++) C[r + j] = (C[r + j] as number) + (bias[j] as number);
    }
  } else {
    for (let i = 0; i < C.length; i++) C[i] = (C[i] as number) + (bias[map(i)] as number);
  }
};

/** Apply a fused activation to `C` in place (`w`: PReLU weights, already broadcast by `wAt`). */
const activate = (C: Float32Array, attrs: FusedAttrs, w?: { values: Float32Array; at: (i: number) => number }): boolean => {
  switch (attrs.activation) {
    case "linear":
      return true;
    case "relu":
      for (let i = 0; i < C.length; i++) if ((C[i] as number) < 0) C[i] = 0;
      return true;
    case "relu6":
      for (let i = 0; i < C.length; i++) {
        const v = C[i] as number;
        C[i] = v < 0 ? 0 : v > 6 ? 6 : v;
      }
      return true;
    case "leakyrelu": {
      const alpha = attrs.leakyreluAlpha ?? 0.2;
      for (let i = 0; i < C.length; i++) if ((C[i] as number) < 0) C[i] = alpha * (C[i] as number);
      return true;
    }
    case "elu":
      for (let i = 0; i < C.length; i++) {
        const v = C[i] as number;
        if (v < 0) C[i] = Math.expm1(v);
      }
      return true;
    case "sigmoid":
      for (let i = 0; i < C.length; i++) C[i] = 1 / (1 + Math.exp(-(C[i] as number)));
      return true;
    case "prelu":
      if (w === undefined) return false;
      for (let i = 0; i < C.length; i++) {
        const v = C[i] as number;
        if (v < 0) C[i] = v * (w.values[w.at(i)] as number);
      }
      return true;
    default:
      return false;
  }
};

const asIndex = (m: ReturnType<typeof broadcastMap>, n: number): ((i: number) => number) =>
  m === "scalar" ? () => 0 : m === "same" ? (i) => i : m === "row" ? (i) => i % n : m;

/** Read a (small) float32 operand as a Float32Array copy, on either backend. */
const readF32 = (be: tf.KernelBackend, t: tf.TensorInfo): Float32Array | undefined => {
  if (t.dtype !== "float32") return undefined;
  if (isWasm(be)) return wasmF32(be, t).slice();
  if (isCpu(be)) return cpuF32(be, t);
  return undefined;
};

/** A product on the installed path of ./matmul.ts, or undefined where it declines (then the stock kernel runs). */
export type Product = (be: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, attrs: MatMulAttrs) => tf.TensorInfo | undefined;

/** `_FusedMatMul`: `product`, then the bias and the activation applied in place. */
export const fusedMatMulKernel = (backendName: string, product: Product): tf.KernelFunc => (args) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo;
  };
  const attrs = args.attrs as unknown as FusedAttrs;
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(tf._FusedMatMul, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock _FusedMatMul on ${backendName}`);
    return f(args);
  };
  const known = ["linear", "relu", "relu6", "prelu", "leakyrelu", "elu", "sigmoid"];
  if (!known.includes(attrs.activation ?? "linear")) return stock();
  if ((bias != null && bias.dtype !== "float32") || (preluActivationWeights != null && preluActivationWeights.dtype !== "float32")) return stock();
  const biasValues = bias != null ? readF32(be, bias) : undefined;
  const preluValues = preluActivationWeights != null ? readF32(be, preluActivationWeights) : undefined;
  const out = product(be, a, b, attrs);
  if (out === undefined) return stock();
  const n = out.shape[out.shape.length - 1] as number;
  const C = isWasm(be) ? wasmF32(be, out) : (cpuF32(be as CpuBackend, out) as Float32Array);
  if (bias != null && biasValues !== undefined) addBroadcast(C, biasValues, broadcastMap(bias.shape, out.shape), n);
  const w = preluActivationWeights != null && preluValues !== undefined
    ? { values: preluValues, at: asIndex(broadcastMap(preluActivationWeights.shape, out.shape), n) }
    : undefined;
  activate(C, { ...attrs, activation: attrs.activation ?? "linear" }, w);
  return out;
};
