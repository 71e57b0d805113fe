/**
 * The `Transpose` kernel of ./matmul.ts. A transpose is first simplified
 * (size-1 axes dropped, axes that stay adjacent merged); when what is left
 * swaps two axes (`[batch, rows, cols, inner] → [batch, cols, rows, inner]`,
 * which covers matrix transposes and head splits/merges) it is one tiled copy
 * in place: native on the native path, JS on cpu otherwise.
 */
import * as tf from "@tensorflow/tfjs-core";
import { jsTranspose, type NativeGemm } from "./gemm.js";
import { allocF32, cpuF32, isCpu, isWasm, wasmF32 } from "./internals.js";
import { stockKernel } from "./registry.js";

/**
 * Simplify a transpose: drop size-1 axes and merge input axes that stay
 * adjacent and in order. Returns the simplified shape and permutation.
 */
export const simplifyTranspose = (shape: ReadonlyArray<number>, perm: ReadonlyArray<number>): { shape: number[]; perm: number[] } => {
  const kept = shape.map((s, i) => (s !== 1 ? i : -1)).filter((i) => i >= 0);
  const rank = new Map(kept.map((axis, i) => [axis, i]));
  const p1 = perm.filter((axis) => rank.has(axis)).map((axis) => rank.get(axis) as number);
  const s1 = kept.map((axis) => shape[axis] as number);
  // merge runs of consecutive input axes in the output order
  const groups: number[][] = [];
  for (const axis of p1) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[last.length - 1] === axis - 1) last.push(axis);
    else groups.push([axis]);
  }
  const order = groups.map((g, i) => [g[0] as number, i] as const).sort((x, y) => x[0] - y[0]);
  const newShape = order.map(([, gi]) => (groups[gi] as number[]).reduce((acc, axis) => acc * (s1[axis] as number), 1));
  const position = new Map(order.map(([, gi], j) => [gi, j]));
  const newPerm = groups.map((_, gi) => position.get(gi) as number);
  return { shape: newShape, perm: newPerm };
};

/** A transpose as `[batch, rows, cols, inner] → [batch, cols, rows, inner]`, if it is one. */
export const transposeAsSwap = (
  shape: ReadonlyArray<number>,
  perm: ReadonlyArray<number>,
): { batch: number; rows: number; cols: number; inner: number } | "identity" | undefined => {
  const s = simplifyTranspose(shape, perm);
  const p = s.perm.join(",");
  const d = s.shape;
  if (s.perm.every((v, i) => v === i)) return "identity";
  if (p === "1,0") return { batch: 1, rows: d[0] as number, cols: d[1] as number, inner: 1 };
  if (p === "0,2,1") return { batch: d[0] as number, rows: d[1] as number, cols: d[2] as number, inner: 1 };
  if (p === "1,0,2") return { batch: 1, rows: d[0] as number, cols: d[1] as number, inner: d[2] as number };
  if (p === "0,2,1,3") return { batch: d[0] as number, rows: d[1] as number, cols: d[2] as number, inner: d[3] as number };
  return undefined;
};

/**
 * `Transpose`: a swap of two axes runs on `nativeGemm()` (the installed native
 * GEMM, read at each call) when there is one, else, on cpu, as a tiled JS
 * copy; anything else runs the stock kernel.
 */
export const transposeKernel = (backendName: string, nativeGemm: () => NativeGemm | undefined): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as unknown as { perm: number[] };
  const be = args.backend as tf.KernelBackend;
  const native = nativeGemm();
  const swap = x.dtype === "float32" ? transposeAsSwap(x.shape, perm) : undefined;
  if (swap !== undefined && swap !== "identity") {
    const outShape = perm.map((axis) => x.shape[axis] as number);
    const { batch, rows, cols, inner } = swap;
    if (native !== undefined && isWasm(be)) {
      const out = allocF32(be, outShape);
      native.transpose(wasmF32(be, x), out.view(), batch, rows, cols, inner);
      return out.info;
    }
    if (isCpu(be)) {
      const src = cpuF32(be, x);
      if (src !== undefined) {
        const dst = new Float32Array(src.length);
        if (native !== undefined) native.transpose(src, dst, batch, rows, cols, inner);
        else jsTranspose(src, 0, dst, 0, batch, rows, cols, inner);
        return be.makeTensorInfo(outShape, x.dtype, dst);
      }
    }
  }
  const stock = stockKernel(tf.Transpose, backendName);
  if (stock === undefined) throw new Error(`[peft-ts] no stock Transpose on ${backendName}`);
  return stock(args);
};
