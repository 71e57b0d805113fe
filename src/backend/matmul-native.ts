/**
 * The native path of ./matmul.ts: the `peft_gemm` addon (OpenBLAS
 * `cblas_sgemm`) on operands read in place — `Float32Array` views of the wasm
 * heap or the cpu backend's value arrays — with the product written straight
 * into the output tensor's memory. Transposes are BLAS flags, batches are
 * strided calls, nothing is copied. Also the thread-count policy
 * ({@link withFewThreads}) that the fused kernels share.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NativeGemm } from "./gemm.js";
import { allocF32, cpuF32, isCpu, isWasm, wasmF32 } from "./internals.js";
import { foldable, type MatMulPlan } from "./matmul-plan.js";

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

/** The product planned by `p` on the native GEMM, or undefined where the operands' memory is not readable. */
export const nativeMatMul = (g: NativeGemm, be: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, p: MatMulPlan): tf.TensorInfo | undefined => {
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
