/**
 * Elementwise kernels where tfjs-backend-wasm is slow enough to dominate a
 * training step (measured on the shared GPT-2 workload with `tf.profile`):
 *
 * - comparisons and logical ops (`Equal`, `NotEqual`, `Greater`,
 *   `GreaterEqual`, `Less`, `LessEqual`, `LogicalAnd`, `LogicalOr`): the
 *   wasm kernels run a generic per-element index computation; `Equal` of
 *   `[1016,1]` against `[5000]` (a one-hot by comparison, as in a language-
 *   model loss) took ~600 ms, 30% of a LoRA step. Here: collapse the
 *   broadcast into a few strided dimensions and run one tight loop per row,
 *   ~100× faster. The cpu backend's broadcasting is as slow, so cpu gets
 *   these too.
 * - `Pow` with a scalar exponent in {±1, 2, 3, 4, ±0.5} (the cube in GELU's
 *   tanh form, squares): wasm calls `powf` per element (~19 ms for 1 M
 *   elements); multiplications and `Math.sqrt` are ~10× faster. Other
 *   exponents, non-scalar exponents and int32 go to the stock kernel.
 * - `GatherV2` on wasm (embedding lookups): the stock kernel computes an
 *   index per element (~10 ms for 1024 rows of 256); here each gathered
 *   slice is one contiguous `TypedArray.set`. Indices are checked like the
 *   stock kernel does.
 * - `Slice` and `SplitV` on wasm: the stock kernels first copy the whole
 *   input out of the heap (`readSync`), per slice: splitting GPT-2's fused
 *   q/k/v ([8,128,768]) took ~5 ms. Here: views in place, one
 *   `TypedArray.set` per contiguous run.
 * - `Identity`, and `Cast` to the tensor's own dtype, on wasm: the stock
 *   kernels copy the whole tensor. tfjs's engine clones (`Identity`) every
 *   tensor it saves for the backward pass, so a GPT-2 training step made
 *   ~600 full copies (~70 ms). Tensors are immutable, so the output can share
 *   the input's memory, as `Reshape` on wasm and `Identity` on cpu already
 *   do (`incRef` on the data id).
 *
 * Inputs are read and outputs written in place (views of the wasm heap, cpu
 * value arrays).
 */
import * as tf from "@tensorflow/tfjs-core";
import { isCpu, isWasm, sizeOf, type CpuBackend, type WasmBackend } from "./internals.js";
import { override, stockKernel } from "./registry.js";

type Values = Float32Array | Int32Array | Uint8Array;

/** An input's values in place, typed by dtype. */
const view = (be: tf.KernelBackend, t: tf.TensorInfo): Values | undefined => {
  if (t.dtype !== "float32" && t.dtype !== "int32" && t.dtype !== "bool") return undefined;
  if (isWasm(be)) {
    const d = be.dataIdMap.get(t.dataId);
    if (d === undefined) return undefined;
    const n = sizeOf(t.shape);
    const buf = be.wasm.HEAPU8.buffer;
    return t.dtype === "float32" ? new Float32Array(buf, d.memoryOffset, n) : t.dtype === "int32" ? new Int32Array(buf, d.memoryOffset, n) : new Uint8Array(buf, d.memoryOffset, n);
  }
  if (isCpu(be)) {
    const v = be.data.get(t.dataId)?.values;
    return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array ? v : undefined;
  }
  return undefined;
};

/**
 * A broadcast of `a` and `b` to `outShape`, simplified: size-1 output axes
 * dropped, neighbouring axes with the same broadcast pattern merged. `dims`
 * are the simplified output axes, `sa`/`sb` each operand's element stride
 * along them (0 where it is broadcast).
 */
export interface Broadcast {
  readonly outShape: number[];
  readonly dims: number[];
  readonly sa: number[];
  readonly sb: number[];
}

export const planBroadcast = (aShape: ReadonlyArray<number>, bShape: ReadonlyArray<number>): Broadcast => {
  const outShape = tf.backend_util.assertAndGetBroadcastShape([...aShape], [...bShape]);
  const rank = outShape.length;
  const pad = (s: ReadonlyArray<number>): number[] => [...new Array<number>(rank - s.length).fill(1), ...s];
  const pa = pad(aShape);
  const pb = pad(bShape);
  const dims: number[] = [];
  const ra: boolean[] = [];
  const rb: boolean[] = [];
  for (let d = 0; d < rank; d++) {
    const o = outShape[d] as number;
    if (o === 1) continue;
    const ka = pa[d] === o;
    const kb = pb[d] === o;
    const last = dims.length - 1;
    if (last >= 0 && ra[last] === ka && rb[last] === kb) dims[last] = (dims[last] as number) * o;
    else {
      dims.push(o);
      ra.push(ka);
      rb.push(kb);
    }
  }
  const strides = (real: boolean[]): number[] => {
    const s = new Array<number>(dims.length).fill(0);
    let acc = 1;
    for (let d = dims.length - 1; d >= 0; d--) {
      if (real[d] === true) {
        s[d] = acc;
        acc *= dims[d] as number;
      }
    }
    return s;
  };
  return { outShape, dims, sa: strides(ra), sb: strides(rb) };
};

type CmpOp = "Equal" | "NotEqual" | "Greater" | "GreaterEqual" | "Less" | "LessEqual" | "LogicalAnd" | "LogicalOr";

/** out[o + j] = a[ia + j·sa] op b[ib + j·sb] for j < n. */
const compareRow = (op: CmpOp, a: Values, ia: number, sa: number, b: Values, ib: number, sb: number, out: Uint8Array, o: number, n: number): void => {
  switch (op) {
    case "Equal":
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] === b[ib + j * sb] ? 1 : 0;
      return;
    case "NotEqual":
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] !== b[ib + j * sb] ? 1 : 0;
      return;
    case "Greater":
      for (let j = 0; j < n; j++) out[o + j] = (a[ia + j * sa] as number) > (b[ib + j * sb] as number) ? 1 : 0;
      return;
    case "GreaterEqual":
      for (let j = 0; j < n; j++) out[o + j] = (a[ia + j * sa] as number) >= (b[ib + j * sb] as number) ? 1 : 0;
      return;
    case "Less":
      for (let j = 0; j < n; j++) out[o + j] = (a[ia + j * sa] as number) < (b[ib + j * sb] as number) ? 1 : 0;
      return;
    case "LessEqual":
      for (let j = 0; j < n; j++) out[o + j] = (a[ia + j * sa] as number) <= (b[ib + j * sb] as number) ? 1 : 0;
      return;
    case "LogicalAnd":
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] !== 0 && b[ib + j * sb] !== 0 ? 1 : 0;
      return;
    case "LogicalOr":
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa] !== 0 || b[ib + j * sb] !== 0 ? 1 : 0;
      return;
  }
};

/** Run `row` over every innermost row of the broadcast (an odometer over the outer axes). */
const forEachRow = (p: Broadcast, row: (ia: number, sa: number, ib: number, sb: number, o: number, n: number) => void): void => {
  const r = p.dims.length;
  if (r === 0) {
    row(0, 0, 0, 0, 0, 1);
    return;
  }
  const n = p.dims[r - 1] as number;
  const sa = p.sa[r - 1] as number;
  const sb = p.sb[r - 1] as number;
  const outer = p.dims.slice(0, -1);
  const total = sizeOf(outer);
  const idx = new Array<number>(outer.length).fill(0);
  let ia = 0;
  let ib = 0;
  for (let k = 0; k < total; k++) {
    row(ia, sa, ib, sb, k * n, n);
    for (let d = outer.length - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      ia += p.sa[d] as number;
      ib += p.sb[d] as number;
      if ((idx[d] as number) < (outer[d] as number)) break;
      ia -= (p.sa[d] as number) * (outer[d] as number);
      ib -= (p.sb[d] as number) * (outer[d] as number);
      idx[d] = 0;
    }
  }
};

const allocBool = (be: tf.KernelBackend, shape: number[]): { info: tf.TensorInfo; out: () => Uint8Array } | undefined => {
  if (isWasm(be)) {
    const info = be.makeOutput(shape, "bool");
    return { info, out: () => view(be, info) as Uint8Array };
  }
  if (isCpu(be)) {
    const values = new Uint8Array(sizeOf(shape));
    return { info: (be as CpuBackend).makeTensorInfo(shape, "bool", values), out: () => values };
  }
  return undefined;
};

const compareKernel = (op: CmpOp, backendName: string): tf.KernelFunc => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(op, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock ${op} on ${backendName}`);
    return f(args);
  };
  if (view(be, a) === undefined || view(be, b) === undefined) return stock();
  const p = planBroadcast(a.shape, b.shape);
  const alloc = allocBool(be, p.outShape);
  if (alloc === undefined) return stock();
  // views after the allocation (it may move the wasm heap)
  const av = view(be, a) as Values;
  const bv = view(be, b) as Values;
  const out = alloc.out();
  forEachRow(p, (ia, sa, ib, sb, o, n) => compareRow(op, av, ia, sa, bv, ib, sb, out, o, n));
  return alloc.info;
};

/** Exponents computed without `powf`. */
const FAST_EXPONENTS = new Set([1, 2, 3, 4, -1, 0.5, -0.5]);

const powKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(tf.Pow, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock Pow on ${backendName}`);
    return f(args);
  };
  if (a.dtype !== "float32" || b.dtype !== "float32" || sizeOf(b.shape) !== 1 || b.shape.length > a.shape.length) return stock();
  const e0 = view(be, b);
  const e = e0?.[0];
  if (e === undefined || !FAST_EXPONENTS.has(e)) return stock();
  const outShape = tf.backend_util.assertAndGetBroadcastShape([...a.shape], [...b.shape]);
  let info: tf.TensorInfo;
  let out: Float32Array;
  if (isWasm(be)) {
    info = (be as WasmBackend).makeOutput(outShape, "float32");
    out = view(be, info) as Float32Array;
  } else if (isCpu(be)) {
    out = new Float32Array(sizeOf(outShape));
    info = be.makeTensorInfo(outShape, "float32", out);
  } else {
    return stock();
  }
  const x = view(be, a) as Float32Array;
  const n = x.length;
  switch (e) {
    case 1:
      out.set(x);
      break;
    case 2:
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) * (x[i] as number);
      break;
    case 3:
      for (let i = 0; i < n; i++) {
        const v = x[i] as number;
        out[i] = v * v * v;
      }
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const v = (x[i] as number) * (x[i] as number);
        out[i] = v * v;
      }
      break;
    case -1:
      for (let i = 0; i < n; i++) out[i] = 1 / (x[i] as number);
      break;
    case 0.5:
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i] as number);
      break;
    case -0.5:
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i] as number);
      break;
  }
  return info;
};

/** Identity (and same-dtype Cast) sharing the input's memory, as wasm's Reshape does. */
const shareKernel = (name: string, backendName: string): tf.KernelFunc => (args) => {
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
const gatherKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(tf.GatherV2, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock GatherV2 on ${backendName}`);
    return f(args);
  };
  if (!isWasm(be) || view(be, x) === undefined || (indices.dtype !== "int32" && indices.dtype !== "float32")) return stock();
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0] as number;
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, batchDims);
  const idx = view(be, indices) as Int32Array | Float32Array;
  const dimSize = info.dimSize;
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i] as number;
    if (!(k >= 0 && k <= dimSize - 1)) throw new Error(`GatherV2: the index value ${k} is not in [0, ${dimSize - 1}]`);
  }
  const out = (be as WasmBackend).makeOutput([...info.outputShape], x.dtype);
  // views after the allocation (it may move the heap)
  const xs = view(be, x) as Values;
  const ids = view(be, indices) as Int32Array | Float32Array;
  const os = view(be, out) as Values;
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
export const sliceCopy = (xs: Values, shape: ReadonlyArray<number>, begin: ReadonlyArray<number>, size: ReadonlyArray<number>, os: Values): void => {
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
  sliceCopy(view(be, x) as Values, x.shape, begin, size, view(be, out) as Values);
  return out;
};

const sliceKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const be = args.backend as tf.KernelBackend;
  if (!isWasm(be) || view(be, x) === undefined) {
    const f = stockKernel(tf.Slice, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock Slice on ${backendName}`);
    return f(args);
  }
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
  return wasmSlice(be, x, b, s);
};

const splitVKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const be = args.backend as tf.KernelBackend;
  if (!isWasm(be) || view(be, x) === undefined) {
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

const COMPARISONS: ReadonlyArray<CmpOp> = ["Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr"];

/** Register the elementwise kernels on `backends` (idempotent per call site). */
export const registerElementwise = (backends: ReadonlyArray<string>): string[] => {
  const done: string[] = [];
  for (const backend of backends) {
    for (const op of COMPARISONS) {
      if (tf.getKernel(op, backend) === undefined) continue;
      override(op, backend, compareKernel(op, backend));
      done.push(`${backend}/${op}`);
    }
    if (tf.getKernel(tf.Pow, backend) !== undefined) {
      override(tf.Pow, backend, powKernel(backend));
      done.push(`${backend}/${tf.Pow}`);
    }
    if (backend === "wasm") {
      const memory: ReadonlyArray<readonly [string, (b: string) => tf.KernelFunc]> = [
        [tf.GatherV2, gatherKernel],
        [tf.Slice, sliceKernel],
        [tf.SplitV, splitVKernel],
      ];
      for (const [k, make] of memory) {
        if (tf.getKernel(k, backend) === undefined) continue;
        override(k, backend, make(backend));
        done.push(`${backend}/${k}`);
      }
      for (const k of [tf.Identity, tf.Cast]) {
        if (tf.getKernel(k, backend) === undefined) continue;
        override(k, backend, shareKernel(k, backend));
        done.push(`${backend}/${k}`);
      }
    }
  }
  return done;
};
