/**
 * Matrix-product kernels for the `wasm` and `cpu` backends: `BatchMatMul`,
 * `_FusedMatMul` and `Transpose`.
 *
 * Why: tfjs-backend-wasm's matMul is fast (XNNPACK, ~30 GFLOP/s on one
 * thread) only for a single non-transposed 2-D product; with a transpose flag
 * or a batch it runs a scalar loop at 0.4–2.3 GFLOP/s. Every backward pass
 * (`dA = dC·Bᵀ`, `dB = Aᵀ·dC`) and every torch-layout `x·Wᵀ` hits that. The
 * cpu backend is ~0.7 GFLOP/s throughout.
 *
 * Three paths, chosen once by {@link installMatMulKernels}:
 *
 * - `native`: the `peft_gemm` addon (OpenBLAS `cblas_sgemm`). Operands are
 *   read in place — `Float32Array` views of the wasm heap or the cpu
 *   backend's value arrays — and the product is written straight into the
 *   output tensor's memory: transposes are BLAS flags, batches are strided
 *   calls, nothing is copied. `Transpose` also goes native (a tiled copy).
 * - `js` on wasm: transpose explicitly (the stock wasm `Transpose`), then run
 *   XNNPACK's fast non-transposed product through the wasm module's own
 *   `BatchMatMul` entry point, once per batch matrix, on C++-side ids that
 *   alias slices of the operands and of the output (no copies). When `b` is
 *   shared by the whole batch (`x[B,T,K]·W[K,N]`), the batch folds into the
 *   rows and it is a single product.
 * - `js` on cpu: the same plan with a blocked JS GEMM ({@link jsGemm}, ~3× the
 *   stock cpu kernel) and a tiled JS transpose.
 *
 * Anything not covered (non-float32 dtypes, or a backend whose memory we cannot
 * see) runs the stock kernel, kept from before we re-registered
 * (see ./registry.ts) — except int32 products on wasm, which the stock wasm
 * kernel rejects and which go to the cpu kernel (./fillins.ts `delegateToCpu`).
 */
import * as tf from "@tensorflow/tfjs-core";
import { delegateToCpu } from "./fillins.js";
import { jsGemm, jsTranspose, type NativeGemm } from "./gemm.js";
import {
  aliasId,
  allocF32,
  cpuF32,
  isCpu,
  isWasm,
  releaseAlias,
  sizeOf,
  wasmF32,
  wasmOffset,
  type CpuBackend,
  type WasmBackend,
} from "./internals.js";
import { override, restore, stockKernel } from "./registry.js";

export type GemmPath = "native" | "js" | "stock";

/** How a (possibly batched, broadcast, transposed) product is laid out. */
export interface MatMulPlan {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** Number of output matrices (product of the broadcast batch dims). */
  readonly batch: number;
  /** Number of matrices stored in `a` and in `b`. */
  readonly aBatch: number;
  readonly bBatch: number;
  /** For output matrix i, which matrix of a / b it reads. */
  readonly aIndex: (i: number) => number;
  readonly bIndex: (i: number) => number;
  readonly outShape: number[];
}

/** Index map of one operand's batch dims into the broadcast batch dims. */
const batchIndexer = (dims: ReadonlyArray<number>, out: ReadonlyArray<number>): ((i: number) => number) => {
  const own = sizeOf(dims);
  const total = sizeOf(out);
  if (own === total) return (i) => i;
  if (own === 1) return () => 0;
  const lead = out.length - dims.length;
  const table = new Int32Array(total);
  for (let i = 0; i < total; i++) {
    let rem = i;
    let idx = 0;
    let stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const o = out[d] as number;
      const coord = rem % o;
      rem = (rem - coord) / o;
      if (d >= lead) {
        const size = dims[d - lead] as number;
        idx += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    table[i] = idx;
  }
  return (i) => table[i] as number;
};

/** The plan of `matMul(a, b, transposeA, transposeB)` with tfjs's broadcasting rules. */
export const planMatMul = (
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan => {
  const ar = aShape.length;
  const br = bShape.length;
  if (ar < 2 || br < 2) throw new Error(`[peft-ts] matMul needs rank ≥ 2 operands, got ${ar} and ${br}`);
  const M = aShape[transposeA ? ar - 1 : ar - 2] as number;
  const K = aShape[transposeA ? ar - 2 : ar - 1] as number;
  const Kb = bShape[transposeB ? br - 1 : br - 2] as number;
  const N = bShape[transposeB ? br - 2 : br - 1] as number;
  if (K !== Kb) {
    throw new Error(
      `Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${aShape} and ${bShape} ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const aDims = aShape.slice(0, -2);
  const bDims = bShape.slice(0, -2);
  const outDims = tf.broadcast_util.assertAndGetBroadcastShape(aDims, bDims);
  return {
    M, N, K, transposeA, transposeB,
    batch: sizeOf(outDims),
    aBatch: sizeOf(aDims),
    bBatch: sizeOf(bDims),
    aIndex: batchIndexer(aDims, outDims),
    bIndex: batchIndexer(bDims, outDims),
    outShape: [...outDims, M, N],
  };
};

/**
 * Whether `b` is one matrix used by every output and `a`'s batch is the
 * output's, with `a` row-major (untransposed, or transposed explicitly
 * already): then the batch folds into the rows of a single product.
 */
const foldable = (p: MatMulPlan, aTransposedAlready = false): boolean =>
  p.bBatch === 1 && p.aBatch === p.batch && (!p.transposeA || aTransposedAlready);

// ---------------------------------------------------------------------------
// native path

/**
 * Products below this many flops (per matrix) run on one OpenBLAS thread:
 * waking a second thread costs more than it saves on them. That covers the
 * per-head attention products (128×128×64, ~2 MFLOP) and every LoRA product
 * with a rank-8 side (up to 2·1024·1024·8 ≈ 17 MFLOP), whose cost is moving
 * the big operand, not arithmetic. Measured on the shared workload (2 cores,
 * load ~1.5–2.5, medians of 6): LoRA train step 237–251 ms with this
 * threshold vs 306–324 ms at 4 MFLOP and 279–307 ms at 150 MFLOP (which also
 * puts c_proj's 134 MFLOP on one thread); unmerged forward 108–110 vs
 * 130–133 ms. Two threads stay for the big products (c_proj 1024×256×256:
 * 0.66 vs 1.3 ms).
 */
export const SINGLE_THREAD_FLOPS = 2e7;

/**
 * Run `f` with OpenBLAS on one thread (restoring the count after), when
 * `flops` (of one product) is below {@link SINGLE_THREAD_FLOPS}.
 */
export const withFewThreads = <T>(g: NativeGemm, flops: number, f: () => T): T => {
  const n = flops < SINGLE_THREAD_FLOPS ? g.threads() : 1;
  if (n <= 1) return f();
  g.setThreads(1);
  try {
    return f();
  } finally {
    g.setThreads(n);
  }
};

/** C (M×N per batch, written at `C`) = op(A)·op(B), all views of float memory. */
const nativeProduct = (g: NativeGemm, p: MatMulPlan, A: Float32Array, B: Float32Array, C: Float32Array): void => {
  const flops = 2 * p.M * p.N * p.K * (foldable(p) ? p.batch : 1);
  withFewThreads(g, flops, () => nativeProductOn(g, p, A, B, C));
};

const nativeProductOn = (g: NativeGemm, p: MatMulPlan, A: Float32Array, B: Float32Array, C: Float32Array): void => {
  const { M, N, K, transposeA: ta, transposeB: tb } = p;
  if (p.batch === 0 || M === 0 || N === 0) return;
  if (K === 0) {
    C.fill(0);
    return;
  }
  const lda = ta ? M : K;
  const ldb = tb ? K : N;
  const sa = M * K;
  const sb = K * N;
  const sc = M * N;
  if (foldable(p)) {
    g.sgemm(false, tb, p.batch * M, N, K, 1, A, K, B, ldb, 0, C, N);
  } else if ((p.aBatch === p.batch || p.aBatch === 1) && (p.bBatch === p.batch || p.bBatch === 1)) {
    g.sgemmStrided(ta, tb, M, N, K, 1, A, lda, p.aBatch === 1 ? 0 : sa, B, ldb, p.bBatch === 1 ? 0 : sb, 0, C, N, sc, p.batch);
  } else {
    for (let i = 0; i < p.batch; i++) {
      const ai = p.aIndex(i) * sa;
      const bi = p.bIndex(i) * sb;
      g.sgemm(ta, tb, M, N, K, 1, A.subarray(ai, ai + sa), lda, B.subarray(bi, bi + sb), ldb, 0, C.subarray(i * sc, (i + 1) * sc), N);
    }
  }
};

const nativeMatMul = (g: NativeGemm, be: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo | undefined => {
  if (isWasm(be)) {
    const out = allocF32(be, p.outShape); // allocate first: it may move the heap
    nativeProduct(g, p, wasmF32(be, a), wasmF32(be, b), out.view());
    return out.info;
  }
  if (isCpu(be)) {
    const A = cpuF32(be, a);
    const B = cpuF32(be, b);
    if (A === undefined || B === undefined) return undefined;
    const out = allocF32(be, p.outShape);
    nativeProduct(g, p, A, B, out.view());
    return out.info;
  }
  return undefined;
};

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

const wasmJsMatMul = (be: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo => {
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

const cpuJsMatMul = (be: CpuBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo | undefined => {
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

// ---------------------------------------------------------------------------
// kernels

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

let path: GemmPath = "stock";
let native: NativeGemm | undefined;

/** The native GEMM when it is the installed path (fused kernels that need strided products use it). */
export const activeNativeGemm = (): NativeGemm | undefined => (path === "native" ? native : undefined);

/** The product on the installed path, or undefined to use the stock kernel. */
const product = (be: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, attrs: MatMulAttrs): tf.TensorInfo | undefined => {
  if (a.dtype !== "float32" || b.dtype !== "float32") return undefined;
  const p = planMatMul(a.shape, b.shape, attrs.transposeA === true, attrs.transposeB === true);
  if (path === "native" && native !== undefined) return nativeMatMul(native, be, a, b, p);
  if (path === "js") {
    if (isWasm(be)) return wasmJsMatMul(be, a, b, p);
    if (isCpu(be)) return cpuJsMatMul(be, a, b, p);
  }
  return undefined;
};

const batchMatMulKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const out = product(args.backend as tf.KernelBackend, a, b, args.attrs as unknown as MatMulAttrs);
  if (out !== undefined) return out;
  // The stock wasm kernel rejects int32; cpu's handles it.
  if (backendName === "wasm" && (a.dtype !== "float32" || b.dtype !== "float32")) return delegateToCpu(tf.BatchMatMul)(args);
  const stock = stockKernel(tf.BatchMatMul, backendName);
  if (stock === undefined) throw new Error(`[peft-ts] no stock BatchMatMul on ${backendName}`);
  return stock(args);
};

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

const fusedMatMulKernel = (backendName: string): tf.KernelFunc => (args) => {
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

// ---------------------------------------------------------------------------
// Transpose

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

const transposeKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as unknown as { perm: number[] };
  const be = args.backend as tf.KernelBackend;
  const swap = x.dtype === "float32" ? transposeAsSwap(x.shape, perm) : undefined;
  if (swap !== undefined && swap !== "identity") {
    const outShape = perm.map((axis) => x.shape[axis] as number);
    const { batch, rows, cols, inner } = swap;
    if (path === "native" && native !== undefined && isWasm(be)) {
      const out = allocF32(be, outShape);
      native.transpose(wasmF32(be, x), out.view(), batch, rows, cols, inner);
      return out.info;
    }
    if (isCpu(be)) {
      const src = cpuF32(be, x);
      if (src !== undefined) {
        const dst = new Float32Array(src.length);
        if (path === "native" && native !== undefined) native.transpose(src, dst, batch, rows, cols, inner);
        else jsTranspose(src, 0, dst, 0, batch, rows, cols, inner);
        return be.makeTensorInfo(outShape, x.dtype, dst);
      }
    }
  }
  const stock = stockKernel(tf.Transpose, backendName);
  if (stock === undefined) throw new Error(`[peft-ts] no stock Transpose on ${backendName}`);
  return stock(args);
};

// ---------------------------------------------------------------------------
// installation

const KERNELS = [tf.BatchMatMul, tf._FusedMatMul, tf.Transpose] as const;

/**
 * Route `BatchMatMul`, `_FusedMatMul` and `Transpose` of `backends` through
 * `newPath` (`native` needs the addon). `stock` puts the stock kernels back.
 * The wasm backend keeps its stock `Transpose` on the `js` path (its C++
 * transpose is already compiled code).
 */
export const installMatMulKernels = (newPath: GemmPath, backends: ReadonlyArray<string>, gemm?: NativeGemm): void => {
  if (newPath === "native" && gemm === undefined) throw new Error("[peft-ts] native GEMM path needs the addon");
  for (const backend of backends) for (const k of KERNELS) restore(k, backend);
  path = newPath;
  native = newPath === "native" ? gemm : undefined;
  if (newPath === "stock") return;
  for (const backend of backends) {
    if (tf.getKernel(tf.BatchMatMul, backend) === undefined) continue;
    override(tf.BatchMatMul, backend, batchMatMulKernel(backend));
    if (tf.getKernel(tf._FusedMatMul, backend) !== undefined) override(tf._FusedMatMul, backend, fusedMatMulKernel(backend));
    if (newPath === "native" || backend === "cpu") override(tf.Transpose, backend, transposeKernel(backend));
  }
};

/** The path the kernels currently take. */
export const matMulPath = (): GemmPath => path;
