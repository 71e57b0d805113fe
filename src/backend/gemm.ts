/**
 * GEMM providers: the native addon (`native/peft_gemm.c`, OpenBLAS's
 * `cblas_sgemm`) when it was built and loads, and plain-JS routines used by the
 * cpu backend's fallback.
 *
 * Finding the addon: `PEFT_TS_GEMM_ADDON` (a path to a `.node` file), else
 * `native/build/Release/peft_gemm.node` in the first directory above this
 * module that has one (this file runs from `src/backend/` under tsx/vitest and
 * from `dist/src/backend/` when built). `PEFT_TS_GEMM=js` skips it.
 * `PEFT_TS_GEMM_THREADS=n` sets OpenBLAS's thread count (default: OpenBLAS's
 * own, i.e. the number of cores or `OPENBLAS_NUM_THREADS`);
 * `PEFT_TS_KERNEL_THREADS=n` that of the addon's LayerNorm/GELU/AdamW kernels
 * (default: the online CPUs, at most 8).
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The addon's interface (see native/peft_gemm.c for the exact contract). */
export interface NativeGemm {
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number,
  ): void;
  sgemmStrided(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, strideA: number, B: Float32Array, ldb: number, strideB: number,
    beta: number, C: Float32Array, ldc: number, strideC: number, batch: number,
  ): void;
  transpose(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number, inner: number): void;
  setThreads(n: number): void;
  threads(): number;
  info(): string;
  /** Row-wise kernels (native/peft_kernels_napi.c); absent from addons built before them. */
  layerNorm?: NativeKernels["layerNorm"];
  geluTanh?: NativeKernels["geluTanh"];
  setKernelThreads?: NativeKernels["setKernelThreads"];
}

/**
 * The addon's LayerNorm, RMSNorm, tanh-GELU and AdamW kernels (native/peft_norm.c, native/peft_pointwise.c), over
 * float32 arrays in place; [n, d] row-major; `null` for an absent operand.
 */
export interface NativeKernels {
  layerNorm(
    x: Float32Array, w: Float32Array | null, b: Float32Array | null, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    n: number, d: number, eps: number,
  ): void;
  layerNormGradX(
    dy: Float32Array, x: Float32Array, w: Float32Array | null, mean: Float32Array, rstd: Float32Array, dx: Float32Array, n: number, d: number,
  ): void;
  layerNormGradParams(
    dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, dw: Float32Array | null, db: Float32Array | null, n: number, d: number,
  ): void;
  geluTanh(x: Float32Array, y: Float32Array, n: number): void;
  geluTanhGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, n: number): void;
  rmsNorm(x: Float32Array, w: Float32Array | null, y: Float32Array, rstd: Float32Array, n: number, d: number, eps: number): void;
  rmsNormGradX(dy: Float32Array, x: Float32Array, w: Float32Array | null, rstd: Float32Array, dx: Float32Array, n: number, d: number): void;
  rmsNormGradW(dy: Float32Array, x: Float32Array, rstd: Float32Array, dw: Float32Array, n: number, d: number): void;
  adamw(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, n: number,
    decay: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, bc2Sqrt: number, eps: number,
  ): void;
  /** Threads the kernels above split their rows or elements over (default: the online CPUs, at most 8). */
  setKernelThreads(n: number): void;
  kernelThreads(): number;
}

export type NativeLoad =
  | { readonly ok: true; readonly gemm: NativeGemm; readonly path: string }
  | { readonly ok: false; readonly reason: string };

const ADDON = join("native", "build", "Release", "peft_gemm.node");

const findAddon = (): string | undefined => {
  const explicit = process.env["PEFT_TS_GEMM_ADDON"];
  if (explicit !== undefined && explicit !== "") return resolve(explicit);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
};

let cached: NativeLoad | undefined;

/** Load the native addon once; says why not when it cannot. */
export const loadNativeGemm = (): NativeLoad => {
  if (cached !== undefined) return cached;
  const path = findAddon();
  if (path === undefined) {
    cached = { ok: false, reason: "addon not built (npm install builds it when a C compiler and OpenBLAS are present)" };
    return cached;
  }
  try {
    // OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after each GEMM
    // before sleeping; on two SMT siblings that spinning halved the speed of
    // the single-threaded work between GEMMs (a GELU pass: 2.6 vs 1.6 ms) and
    // cost ~8% of a training step. 2^20 cycles (~0.3 ms) keeps the quick
    // wake-up between back-to-back GEMMs. Read by OpenBLAS when it loads
    // (with this addon); a value the user set is left alone.
    if (process.env["OPENBLAS_THREAD_TIMEOUT"] === undefined) process.env["OPENBLAS_THREAD_TIMEOUT"] = "20";
    const gemm = createRequire(import.meta.url)(path) as NativeGemm;
    if (typeof gemm.sgemm !== "function" || typeof gemm.transpose !== "function") {
      throw new Error("not a peft_gemm addon");
    }
    const threads = Number(process.env["PEFT_TS_GEMM_THREADS"] ?? "");
    if (Number.isInteger(threads) && threads > 0) gemm.setThreads(threads);
    const kernelThreads = Number(process.env["PEFT_TS_KERNEL_THREADS"] ?? "");
    if (Number.isInteger(kernelThreads) && kernelThreads > 0) gemm.setKernelThreads?.(kernelThreads);
    // A 2x2 smoke test: a broken BLAS must not get as far as a kernel.
    const c = new Float32Array(4);
    gemm.sgemm(false, true, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([1, 0, 0, 1]), 2, 0, c, 2);
    if (c[0] !== 1 || c[1] !== 2 || c[2] !== 3 || c[3] !== 4) throw new Error(`smoke test gave ${Array.from(c)}`);
    cached = { ok: true, gemm, path };
  } catch (err) {
    cached = { ok: false, reason: `addon at ${path} failed to load: ${(err as Error).message}` };
  }
  return cached;
};

/**
 * C[cOff…] = A[aOff…] · B[bOff…] for row-major, non-transposed M×K and K×N
 * operands with leading dimensions K and N (C's is N). Overwrites C.
 *
 * Four output rows at a time share each loaded B element, over 128-deep K
 * panels and 256-wide N panels that stay in cache: ~2.2 GFLOP/s on this
 * machine's V8, against ~0.7 for tfjs-backend-cpu's matMul.
 */
export const jsGemm = (
  M: number, N: number, K: number,
  A: Float32Array, aOff: number, B: Float32Array, bOff: number, C: Float32Array, cOff: number,
): void => {
  const KB = 128;
  const NB = 256;
  C.fill(0, cOff, cOff + M * N);
  for (let k0 = 0; k0 < K; k0 += KB) {
    const k1 = Math.min(K, k0 + KB);
    for (let j0 = 0; j0 < N; j0 += NB) {
      const j1 = Math.min(N, j0 + NB);
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        const c0 = cOff + i * N;
        const c1 = c0 + N;
        const c2 = c1 + N;
        const c3 = c2 + N;
        const r0 = aOff + i * K;
        for (let k = k0; k < k1; k++) {
          const a0 = A[r0 + k] as number;
          const a1 = A[r0 + K + k] as number;
          const a2 = A[r0 + 2 * K + k] as number;
          const a3 = A[r0 + 3 * K + k] as number;
          const bk = bOff + k * N;
          for (let j = j0; j < j1; j++) {
            const b = B[bk + j] as number;
            C[c0 + j] = (C[c0 + j] as number) + a0 * b;
            C[c1 + j] = (C[c1 + j] as number) + a1 * b;
            C[c2 + j] = (C[c2 + j] as number) + a2 * b;
            C[c3 + j] = (C[c3 + j] as number) + a3 * b;
          }
        }
      }
      for (; i < M; i++) {
        const c0 = cOff + i * N;
        const r0 = aOff + i * K;
        for (let k = k0; k < k1; k++) {
          const a0 = A[r0 + k] as number;
          const bk = bOff + k * N;
          for (let j = j0; j < j1; j++) C[c0 + j] = (C[c0 + j] as number) + a0 * (B[bk + j] as number);
        }
      }
    }
  }
};

/**
 * dst[b][c][r][:] = src[b][r][c][:] (vectors of `inner` elements), in 32×32
 * tiles. Works on any typed array (dtype-agnostic: elements are moved, not
 * computed on).
 */
export const jsTranspose = <T extends Float32Array | Int32Array | Uint8Array>(
  src: T, sOff: number, dst: T, dOff: number, batch: number, rows: number, cols: number, inner: number,
): void => {
  const T = 32;
  const plane = rows * cols * inner;
  for (let b = 0; b < batch; b++) {
    const s = sOff + b * plane;
    const d = dOff + b * plane;
    for (let r0 = 0; r0 < rows; r0 += T) {
      const r1 = Math.min(rows, r0 + T);
      for (let c0 = 0; c0 < cols; c0 += T) {
        const c1 = Math.min(cols, c0 + T);
        if (inner === 1) {
          for (let r = r0; r < r1; r++) {
            for (let c = c0; c < c1; c++) dst[d + c * rows + r] = src[s + r * cols + c] as number;
          }
        } else {
          for (let r = r0; r < r1; r++) {
            for (let c = c0; c < c1; c++) {
              const from = s + (r * cols + c) * inner;
              dst.set(src.subarray(from, from + inner), d + (c * rows + r) * inner);
            }
          }
        }
      }
    }
  }
};
