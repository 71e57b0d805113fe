/**
 * Fill-in kernels for the `wasm` backend (and one for `cpu`).
 *
 * Found by running forward and backward passes of every op this library uses
 * under wasm and comparing with cpu (tests/backend/fillins.test.ts keeps that
 * sweep), and by listing the kernels cpu registers and wasm does not:
 *
 * | kernel | wasm problem | fill-in |
 * |---|---|---|
 * | `UnsortedSegmentSum` | missing (gradient of `gather`: embeddings) | JS scatter-add on the heap, in place |
 * | `Conv2DBackpropFilter` | missing (gradient of `conv2d`/`conv1d`) | cpu kernel, delegated |
 * | `DepthwiseConv2dNativeBackpropInput`/`…Filter` | missing (gradient of `depthwiseConv2d`) | cpu kernel, delegated |
 * | `Einsum` | missing | cpu kernel, delegated |
 * | `RaggedGather`, `RaggedRange`, `RaggedTensorToTensor` | missing | cpu kernels, delegated |
 * | `OneHot` | with `dtype: "float32"` writes int32 bit patterns (1 reads 1.4e-45) | JS |
 * | `Conv2D`, `DepthwiseConv2dNative` | reject `dataFormat: "NCHW"` (torch layout) | transpose to NHWC, stock kernel, transpose back |
 * | `FusedConv2D` | rejects NCHW | cpu kernel, delegated, for NCHW only |
 * | `MaxPoolGrad` | drops the gradient of windows whose maximum is negative | cpu kernel, delegated |
 *
 * Kernels that exist but are slow enough to dominate a training step
 * (comparisons and logical ops with broadcasting, `Pow` with small scalar
 * exponents; on wasm also `Slice`, `SplitV`, `GatherV2`, and `Identity` /
 * same-dtype `Cast`, which copied whole tensors) are replaced from
 * ./elementwise.ts. The fused kernels of ./fused-kernels.ts are registered here too.
 *
 * `UnsortedSegmentSum` is also replaced on cpu: the stock cpu kernel makes one
 * full pass over the data per segment (O(vocabulary × tokens × width) for an
 * embedding gradient); ours is one pass.
 *
 * Not filled: complex-number kernels (`Complex`, `FFT`, …: cpu stores complex
 * tensors as pairs, which a value copy cannot carry), `Draw`,
 * `StaticRegexReplace`.
 *
 * Delegation ("cpu kernel, delegated"; ./delegate.ts): copy the inputs out
 * of the wasm heap into cpu tensors, run the cpu backend's registered kernel
 * function, copy the outputs back with `makeOutput`, and dispose every cpu
 * intermediate. Correct by construction, slow only by the two copies plus
 * cpu's speed; used for kernels off the hot path of LoRA on transformers.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  isCpu,
  isWasm,
  sizeOf,
  wasmF32,
  wasmI32,
  type WasmBackend,
} from "./internals.js";
import { delegateToCpu } from "./delegate.js";
import { registerElementwise } from "./elementwise.js";
import { registerFused } from "./fused-kernels.js";
import { registerNativeNorm } from "./native-norm.js";
import { registerNativePointwise } from "./native-pointwise.js";
import { registerDense } from "./dense.js";
import { registerReduce } from "./reduce.js";
import { override, stockKernel } from "./registry.js";

// ---------------------------------------------------------------------------
// UnsortedSegmentSum

/**
 * out[s, …] = Σ_{i: ids[i] = s} x[i, …] with `ids` covering x's leading axes;
 * ids outside [0, numSegments) are dropped (TensorFlow's semantics).
 */
const segmentSum = (
  x: Float32Array | Int32Array, ids: Int32Array | Float32Array, out: Float32Array | Int32Array, inner: number, numSegments: number,
): void => {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i] as number;
    if (!(s >= 0 && s < numSegments)) continue;
    const from = i * inner;
    const to = s * inner;
    for (let j = 0; j < inner; j++) out[to + j] = (out[to + j] as number) + (x[from + j] as number);
  }
};

const unsortedSegmentSum: tf.KernelFunc = (args) => {
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = args.attrs as unknown as { numSegments: number };
  const be = args.backend as tf.KernelBackend;
  const inner = sizeOf(x.shape.slice(segmentIds.shape.length));
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  if ((x.dtype !== "float32" && x.dtype !== "int32") || segmentIds.dtype !== "int32") {
    const stock = stockKernel(tf.UnsortedSegmentSum, isWasm(be) ? "wasm" : "cpu");
    if (stock !== undefined) return stock(args);
    throw new Error(`[peft-ts] UnsortedSegmentSum: unsupported dtypes ${x.dtype}/${segmentIds.dtype}`);
  }
  if (isWasm(be)) {
    const out = be.makeOutput(outShape, x.dtype);
    const view = (t: tf.TensorInfo): Float32Array | Int32Array => (t.dtype === "int32" ? wasmI32(be, t) : wasmF32(be, t));
    segmentSum(view(x), wasmI32(be, segmentIds), view(out), inner, numSegments);
    return out;
  }
  if (isCpu(be)) {
    const xs = be.data.get(x.dataId)?.values as Float32Array | Int32Array;
    const ids = be.data.get(segmentIds.dataId)?.values as Int32Array | Float32Array;
    const out = x.dtype === "int32" ? new Int32Array(sizeOf(outShape)) : new Float32Array(sizeOf(outShape));
    segmentSum(xs, ids, out, inner, numSegments);
    return be.makeTensorInfo(outShape, x.dtype, out);
  }
  throw new Error("[peft-ts] UnsortedSegmentSum fill-in: unsupported backend");
};

// ---------------------------------------------------------------------------
// OneHot

const oneHot: tf.KernelFunc = (args) => {
  const { indices } = args.inputs as { indices: tf.TensorInfo };
  const { depth, onValue, offValue, dtype } = args.attrs as unknown as {
    depth: number; onValue: number; offValue: number; dtype: tf.DataType;
  };
  const be = args.backend as WasmBackend;
  const n = sizeOf(indices.shape);
  const idx = be.readSync(indices.dataId) as Int32Array | Float32Array; // a copy: n is small
  const out = be.makeOutput([...indices.shape, depth], dtype);
  const d = be.dataIdMap.get(out.dataId);
  if (d === undefined) throw new Error("[peft-ts] OneHot: no output memory");
  const buf = be.wasm.HEAPU8.buffer;
  const values = dtype === "float32" ? new Float32Array(buf, d.memoryOffset, n * depth)
    : dtype === "bool" ? new Uint8Array(buf, d.memoryOffset, n * depth)
    : new Int32Array(buf, d.memoryOffset, n * depth);
  values.fill(offValue);
  for (let i = 0; i < n; i++) {
    const k = idx[i] as number;
    if (k >= 0 && k < depth) values[i * depth + k] = onValue;
  }
  return out;
};

// ---------------------------------------------------------------------------
// NCHW convolutions on wasm

const transposeWith = (be: tf.KernelBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo => {
  const f = tf.getKernel(tf.Transpose, "wasm")?.kernelFunc;
  if (f === undefined) throw new Error("[peft-ts] wasm Transpose missing");
  return f({ inputs: { x }, attrs: { perm }, backend: be }) as tf.TensorInfo;
};

/**
 * A wasm kernel taking `x` in NHWC only, extended to NCHW: x → NHWC, the stock
 * kernel with `dataFormat: "NHWC"`, result → NCHW.
 */
const nchwViaNhwc = (kernelName: string): tf.KernelFunc => (args) => {
  const attrs = args.attrs as unknown as { dataFormat?: string };
  const stock = stockKernel(kernelName, "wasm");
  if (stock === undefined) throw new Error(`[peft-ts] no stock ${kernelName} on wasm`);
  if (attrs.dataFormat !== "NCHW") return stock(args);
  const be = args.backend as tf.KernelBackend;
  const { x, ...rest } = args.inputs as { x: tf.TensorInfo } & Record<string, tf.TensorInfo>;
  const xNhwc = transposeWith(be, x, [0, 2, 3, 1]);
  try {
    const y = stock({ inputs: { x: xNhwc, ...rest }, attrs: { ...args.attrs, dataFormat: "NHWC" }, backend: be }) as tf.TensorInfo;
    try {
      return transposeWith(be, y, [0, 3, 1, 2]);
    } finally {
      be.disposeData(y.dataId);
    }
  } finally {
    be.disposeData(xNhwc.dataId);
  }
};

/** FusedConv2D: NCHW goes to cpu (its bias/PReLU broadcasting is layout-dependent). */
const fusedConv2d: tf.KernelFunc = (args) => {
  const attrs = args.attrs as unknown as { dataFormat?: string };
  if (attrs.dataFormat === "NCHW") return delegateToCpu(tf.FusedConv2D)(args);
  const stock = stockKernel(tf.FusedConv2D, "wasm");
  if (stock === undefined) throw new Error("[peft-ts] no stock FusedConv2D on wasm");
  return stock(args);
};

// ---------------------------------------------------------------------------
// registration

/** Kernels delegated to cpu when wasm lacks them. */
const DELEGATED = [
  tf.Conv2DBackpropFilter,
  tf.DepthwiseConv2dNativeBackpropInput,
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.Einsum,
  tf.RaggedGather,
  tf.RaggedRange,
  tf.RaggedTensorToTensor,
] as const;

let registered: string[] | undefined;

/**
 * Register the fill-ins (idempotent). Call after the wasm backend is
 * registered (importing `@tensorflow/tfjs-backend-wasm` does that).
 * Returns the `backend/kernel` names registered.
 */
export const registerFillins = (): string[] => {
  if (registered !== undefined) return registered;
  const done: string[] = [];
  const add = (name: string, backend: string, f: tf.KernelFunc): void => {
    override(name, backend, f);
    done.push(`${backend}/${name}`);
  };
  add(tf.UnsortedSegmentSum, "wasm", unsortedSegmentSum);
  add(tf.UnsortedSegmentSum, "cpu", unsortedSegmentSum);
  for (const k of DELEGATED) {
    if (tf.getKernel(k, "wasm") === undefined && tf.getKernel(k, "cpu") !== undefined) add(k, "wasm", delegateToCpu(k));
  }
  add(tf.OneHot, "wasm", oneHot);
  add(tf.Conv2D, "wasm", nchwViaNhwc(tf.Conv2D));
  add(tf.DepthwiseConv2dNative, "wasm", nchwViaNhwc(tf.DepthwiseConv2dNative));
  add(tf.FusedConv2D, "wasm", fusedConv2d);
  add(tf.MaxPoolGrad, "wasm", delegateToCpu(tf.MaxPoolGrad));
  done.push(...registerElementwise(["wasm", "cpu"]));
  done.push(...registerReduce(["wasm", "cpu"]));
  done.push(...registerFused(["wasm", "cpu"]));
  done.push(...registerNativeNorm(["wasm", "cpu"]));
  done.push(...registerNativePointwise(["wasm", "cpu"]));
  done.push(...registerDense(["wasm", "cpu"]));
  registered = done;
  return done;
};

/** The fill-ins registered so far (`backend/kernel`). */
export const registeredFillins = (): ReadonlyArray<string> => registered ?? [];
