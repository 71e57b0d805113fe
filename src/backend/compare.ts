/**
 * Comparisons and logical ops (`Equal`, `NotEqual`, `Greater`,
 * `GreaterEqual`, `Less`, `LessEqual`, `LogicalAnd`, `LogicalOr`) for the
 * `wasm` and `cpu` backends. The wasm kernels run a generic per-element index
 * computation; `Equal` of `[1016,1]` against `[5000]` (a one-hot by
 * comparison, as in a language-model loss) took ~600 ms, 30% of a LoRA step.
 * Here: collapse the broadcast into a few strided dimensions and run one
 * tight loop per row, ~100× faster. The cpu backend's broadcasting is as
 * slow, so cpu gets these too.
 */
import * as tf from "@tensorflow/tfjs-core";
import { isCpu, isWasm, sizeOf, typedView, type CpuBackend, type TypedValues } from "./internals.js";
import { stockKernel } from "./registry.js";

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

export type CmpOp = "Equal" | "NotEqual" | "Greater" | "GreaterEqual" | "Less" | "LessEqual" | "LogicalAnd" | "LogicalOr";

/** out[o + j] = a[ia + j·sa] op b[ib + j·sb] for j < n. */
const compareRow = (op: CmpOp, a: TypedValues, ia: number, sa: number, b: TypedValues, ib: number, sb: number, out: Uint8Array, o: number, n: number): void => {
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
    return { info, out: () => typedView(be, info) as Uint8Array };
  }
  if (isCpu(be)) {
    const values = new Uint8Array(sizeOf(shape));
    return { info: (be as CpuBackend).makeTensorInfo(shape, "bool", values), out: () => values };
  }
  return undefined;
};

export const compareKernel = (op: CmpOp, backendName: string): tf.KernelFunc => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(op, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock ${op} on ${backendName}`);
    return f(args);
  };
  if (typedView(be, a) === undefined || typedView(be, b) === undefined) return stock();
  const p = planBroadcast(a.shape, b.shape);
  const alloc = allocBool(be, p.outShape);
  if (alloc === undefined) return stock();
  // views after the allocation (it may move the wasm heap)
  const av = typedView(be, a) as TypedValues;
  const bv = typedView(be, b) as TypedValues;
  const out = alloc.out();
  forEachRow(p, (ia, sa, ib, sb, o, n) => compareRow(op, av, ia, sa, bv, ib, sb, out, o, n));
  return alloc.info;
};

/** The ops {@link compareKernel} covers. */
export const COMPARISONS: ReadonlyArray<CmpOp> = ["Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr"];
