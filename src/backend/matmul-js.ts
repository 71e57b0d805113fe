/**
 * The `js` paths of ./matmul.ts, used when the native addon is not there:
 *
 * - on wasm: transpose explicitly (the stock wasm `Transpose`), then run
 *   XNNPACK's fast non-transposed product through the wasm module's own
 *   `BatchMatMul` entry point, once per batch matrix, on C++-side ids that
 *   alias slices of the operands and of the output (no copies). When `b` is
 *   shared by the whole batch (`x[B,T,K]·W[K,N]`), the batch folds into the
 *   rows and it is a single product.
 * - on cpu: the same plan with a blocked JS GEMM ({@link jsGemm}, ~3× the
 *   stock cpu kernel) and a tiled JS transpose.
 */
import * as tf from "@tensorflow/tfjs-core";
import { jsGemm, jsTranspose } from "./gemm.js";
import {
  aliasId,
  cpuF32,
  releaseAlias,
  wasmF32,
  wasmOffset,
  type CpuBackend,
  type WasmBackend,
} from "./internals.js";
import { foldable, type MatMulPlan } from "./matmul-plan.js";
import { stockKernel } from "./registry.js";

// ---------------------------------------------------------------------------
// js path, wasm: explicit transposes + XNNPACK's 2-D product on aliased ids

type WasmCMatMul = (aId: number, aShape: Uint8Array, aRank: number, bId: number, bShape: Uint8Array, bRank: number,
  transposeA: number, transposeB: number, outId: number) => void;

const cMatMuls = new WeakMap<WasmBackend, WasmCMatMul>();

const cMatMul = (be: WasmBackend): WasmCMatMul => {
  let f = cMatMuls.get(be);
  if (f === undefined) {
    f = be.wasm.cwrap("BatchMatMul", null, ["number", "array", "number", "number", "array", "number", "number", "number", "number"]) as WasmCMatMul;
    cMatMuls.set(be, f);
  }
  return f;
};

const shapeBytes = (shape: ReadonlyArray<number>): Uint8Array => new Uint8Array(new Int32Array(shape).buffer);

/** Transpose the last two axes of `t`, seen as `[batch, rows, cols]`, with the stock kernel of `backendName`. */
const swapLast2 = (be: tf.KernelBackend, backendName: string, t: tf.TensorInfo, batch: number, rows: number, cols: number): tf.TensorInfo => {
  const f = stockKernel(tf.Transpose, backendName);
  if (f === undefined) throw new Error(`[peft-ts] no stock Transpose on ${backendName}`);
  const out = f({ inputs: { x: { dataId: t.dataId, shape: [batch, rows, cols], dtype: t.dtype } }, attrs: { perm: [0, 2, 1] }, backend: be });
  return out as tf.TensorInfo;
};

/** One XNNPACK product of an m×k block at byte `aAt` and a k×n block at `bAt` into `cAt`. */
const xnnProduct = (be: WasmBackend, m: number, n: number, k: number, aAt: number, bAt: number, cAt: number): void => {
  const ids = [aliasId(be, aAt, m * k), aliasId(be, bAt, k * n), aliasId(be, cAt, m * n)] as const;
  try {
    cMatMul(be)(ids[0], shapeBytes([1, m, k]), 3, ids[1], shapeBytes([1, k, n]), 3, 0, 0, ids[2]);
  } finally {
    for (const id of ids) releaseAlias(be, id);
  }
};

export const wasmJsMatMul = (be: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo => {
  const { M, N, K } = p;
  const temps: tf.TensorInfo[] = [];
  try {
    const A = p.transposeA && M > 0 && K > 0 ? swapLast2(be, "wasm", a, p.aBatch, K, M) : a;
    if (A !== a) temps.push(A);
    const B = p.transposeB && N > 0 && K > 0 ? swapLast2(be, "wasm", b, p.bBatch, N, K) : b;
    if (B !== b) temps.push(B);
    const out = be.makeOutput(p.outShape, "float32");
    if (p.batch === 0 || M === 0 || N === 0) return out;
    if (K === 0) {
      wasmF32(be, out).fill(0);
      return out;
    }
    const aAt = wasmOffset(be, A);
    const bAt = wasmOffset(be, B);
    const cAt = wasmOffset(be, out);
    if (foldable(p, true)) {
      xnnProduct(be, p.batch * M, N, K, aAt, bAt, cAt);
    } else {
      for (let i = 0; i < p.batch; i++) {
        xnnProduct(be, M, N, K, aAt + 4 * p.aIndex(i) * M * K, bAt + 4 * p.bIndex(i) * K * N, cAt + 4 * i * M * N);
      }
    }
    return out;
  } finally {
    for (const t of temps) be.disposeData(t.dataId);
  }
};

// ---------------------------------------------------------------------------
// js path, cpu: explicit transposes + blocked JS GEMM

export const cpuJsMatMul = (be: CpuBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo | undefined => {
  let A = cpuF32(be, a);
  let B = cpuF32(be, b);
  if (A === undefined || B === undefined) return undefined;
  const { M, N, K } = p;
  if (p.transposeA) {
    const t = new Float32Array(A.length);
    jsTranspose(A, 0, t, 0, p.aBatch, K, M, 1);
    A = t;
  }
  if (p.transposeB) {
    const t = new Float32Array(B.length);
    jsTranspose(B, 0, t, 0, p.bBatch, N, K, 1);
    B = t;
  }
  const C = new Float32Array(p.batch * M * N);
  if (foldable(p, true)) {
    jsGemm(p.batch * M, N, K, A, 0, B, 0, C, 0);
  } else {
    for (let i = 0; i < p.batch; i++) jsGemm(M, N, K, A, p.aIndex(i) * M * K, B, p.bIndex(i) * K * N, C, i * M * N);
  }
  return be.makeTensorInfo(p.outShape, "float32", C);
};
