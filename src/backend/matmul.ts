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
 * - `native`: the `peft_gemm` addon (OpenBLAS `cblas_sgemm`) on operands read
 *   in place, transposes as BLAS flags, batches as strided calls
 *   (./matmul-native.ts). `Transpose` also goes native (a tiled copy).
 * - `js` on wasm: explicit transposes, then XNNPACK's fast non-transposed
 *   product on aliased ids (./matmul-js.ts).
 * - `js` on cpu: the same plan with a blocked JS GEMM and a tiled JS
 *   transpose (./matmul-js.ts).
 *
 * Anything not covered (non-float32 dtypes, or a backend whose memory we cannot
 * see) runs the stock kernel, kept from before we re-registered
 * (see ./registry.ts) — except int32 products on wasm, which the stock wasm
 * kernel rejects and which go to the cpu kernel (./delegate.ts `delegateToCpu`).
 *
 * This module holds the installed path (the only module state), the
 * `BatchMatMul` kernel and the installation; the product's layout is
 * ./matmul-plan.ts, `_FusedMatMul` is ./fused-matmul.ts and `Transpose` is
 * ./transpose.ts (both get the installed path from here, as arguments).
 */
import * as tf from "@tensorflow/tfjs-core";
import { delegateToCpu } from "./delegate.js";
import { fusedMatMulKernel } from "./fused-matmul.js";
import type { NativeGemm } from "./gemm.js";
import { isCpu, isWasm } from "./internals.js";
import { cpuJsMatMul, wasmJsMatMul } from "./matmul-js.js";
import { nativeMatMul } from "./matmul-native.js";
import { planMatMul, type MatMulAttrs } from "./matmul-plan.js";
import { override, restore, stockKernel } from "./registry.js";
import { transposeKernel } from "./transpose.js";

/** Thread-count policy of the native path; re-exported for ./dense.ts, which imports it from here. */

export type GemmPath = "native" | "js" | "stock";

// ---------------------------------------------------------------------------
// kernels

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
    if (tf.getKernel(tf._FusedMatMul, backend) !== undefined) override(tf._FusedMatMul, backend, fusedMatMulKernel(backend, product));
    if (newPath === "native" || backend === "cpu") override(tf.Transpose, backend, transposeKernel(backend, activeNativeGemm));
  }
};

/** The path the kernels currently take. */
export const matMulPath = (): GemmPath => path;
