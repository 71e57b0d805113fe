/**
 * Memory kernels of the `wasm` backend that copied more than they had to:
 *
 * - `GatherV2` (embedding lookups): the stock kernel computes an index per
 *   element (~10 ms for 1024 rows of 256); here each gathered slice is one
 *   contiguous `TypedArray.set`. Indices are checked like the stock kernel
 *   does.
 * - `Slice` and `SplitV`: the stock kernels first copy the whole input out of
 *   the heap (`readSync`), per slice: splitting GPT-2's fused q/k/v
 *   ([8,128,768]) took ~5 ms. Here: views in place, one `TypedArray.set` per
 *   contiguous run.
 * - `Identity`, and `Cast` to the tensor's own dtype: the stock kernels copy
 *   the whole tensor. tfjs's engine clones (`Identity`) every tensor it saves
 *   for the backward pass, so a GPT-2 training step made ~600 full copies
 *   (~70 ms). Tensors are immutable, so the output can share the input's
 *   memory, as `Reshape` on wasm and `Identity` on cpu already do (`incRef`
 *   on the data id).
 */
import * as tf from "@tensorflow/tfjs-core";
import { isWasm, sizeOf, typedView, type TypedValues, type WasmBackend } from "./internals.js";
import { stockKernel } from "./registry.js";

/** Identity (and same-dtype Cast) sharing the input's memory, as wasm's Reshape does. */
export const shareKernel = (name: string, backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const attrs = args.attrs as { dtype?: tf.DataType } | undefined;
  const be = args.backend as tf.KernelBackend & { incRef?: (d: object) => void };
  if (x.dtype === "string" || typeof be.incRef !== "function" || (name === tf.Cast && attrs?.dtype !== x.dtype)) {
    const f = stockKernel(name, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock ${name} on ${backendName}`);
    return f(args);
  }
  be.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};

/** GatherV2 as one contiguous copy per gathered slice (wasm). */
export const gatherKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(tf.GatherV2, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock GatherV2 on ${backendName}`);
    return f(args);
  };
  if (!isWasm(be) || typedView(be, x) === undefined || (indices.dtype !== "int32" && indices.dtype !== "float32")) return stock();
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0] as number;
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, batchDims);
  const idx = typedView(be, indices) as Int32Array | Float32Array;
  const dimSize = info.dimSize;
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i] as number;
    if (!(k >= 0 && k <= dimSize - 1)) throw new Error(`GatherV2: the index value ${k} is not in [0, ${dimSize - 1}]`);
  }
  const out = (be as WasmBackend).makeOutput([...info.outputShape], x.dtype);
  // views after the allocation (it may move the heap)
  const xs = typedView(be, x) as TypedValues;
  const ids = typedView(be, indices) as Int32Array | Float32Array;
  const os = typedView(be, out) as TypedValues;
  const { batchSize, outerSize, sliceSize } = info;
  const perBatch = ids.length / batchSize;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < outerSize; r++) {
      const base = (b * outerSize + r) * dimSize * sliceSize;
      for (let i = 0; i < perBatch; i++) {
        const from = base + (ids[b * perBatch + i] as number) * sliceSize;
        os.set(xs.subarray(from, from + sliceSize), o);
        o += sliceSize;
      }
    }
  }
  return out;
};

/** Copy the box `begin`/`size` of a row-major `shape` array `xs` into `os`, one `set` per contiguous run. */
export const sliceCopy = (xs: TypedValues, shape: ReadonlyArray<number>, begin: ReadonlyArray<number>, size: ReadonlyArray<number>, os: TypedValues): void => {
  const r = shape.length;
  if (sizeOf(size) === 0) return;
  if (r === 0) {
    os[0] = xs[0] as number;
    return;
  }
  const stride = new Array<number>(r);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    stride[d] = acc;
    acc *= shape[d] as number;
  }
  // dims after k are taken whole, so a run along k is contiguous
  let k = r - 1;
  while (k > 0 && size[k] === shape[k]) k--;
  const run = (size[k] as number) * (stride[k] as number);
  const outer = size.slice(0, k) as number[];
  const total = sizeOf(outer);
  const idx = new Array<number>(k).fill(0);
  let from = 0;
  for (let d = 0; d <= k; d++) from += (begin[d] as number) * (stride[d] as number);
  let o = 0;
  for (let t = 0; t < total; t++) {
    os.set(xs.subarray(from, from + run) as never, o);
    o += run;
    for (let d = k - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      from += stride[d] as number;
      if ((idx[d] as number) < (outer[d] as number)) break;
      from -= (stride[d] as number) * (outer[d] as number);
      idx[d] = 0;
    }
  }
};

/** A wasm slice of `x` in place: allocate, then copy the runs. */
const wasmSlice = (be: WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo => {
  const out = be.makeOutput([...size], x.dtype);
  sliceCopy(typedView(be, x) as TypedValues, x.shape, begin, size, typedView(be, out) as TypedValues);
  return out;
};

export const sliceKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const be = args.backend as tf.KernelBackend;
  if (!isWasm(be) || typedView(be, x) === undefined) {
    const f = stockKernel(tf.Slice, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock Slice on ${backendName}`);
    return f(args);
  }
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
  return wasmSlice(be, x, b, s);
};

export const splitVKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const be = args.backend as tf.KernelBackend;
  if (!isWasm(be) || typedView(be, x) === undefined) {
    const f = stockKernel(tf.SplitV, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock SplitV on ${backendName}`);
    return f(args);
  }
  const ax = tf.util.parseAxisParam(axis, x.shape)[0] as number;
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((piece) => {
    const size = [...x.shape];
    size[ax] = piece;
    const out = wasmSlice(be, x, [...begin], size);
    begin[ax] = (begin[ax] as number) + piece;
    return out;
  });
};
