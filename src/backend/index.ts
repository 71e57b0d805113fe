/**
 * Choosing and initialising the TensorFlow.js backend.
 *
 * Order of preference: `tensorflow` (from `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`, both optional peer dependencies), `wasm`, `cpu`.
 * `PEFT_TS_BACKEND` forces one. The choice is reported once.
 *
 * On `wasm` and `cpu`, initialisation also
 * - registers tfjs-core's gradient functions, which its Node build lacks
 *   (./gradients.ts), with a few fixes;
 * - registers fill-in kernels for what the wasm backend lacks or gets wrong
 *   (./fillins.ts);
 * - routes `BatchMatMul`, `_FusedMatMul` and `Transpose` through the fastest
 *   GEMM available (./matmul.ts): the native OpenBLAS addon when it was built
 *   (`native openblas`), else explicit transposes plus the backend's fast
 *   2-D product (`js fallback`). `PEFT_TS_GEMM=js` forces the fallback,
 *   `PEFT_TS_GEMM=native` insists on the addon (an error if it does not
 *   load), `PEFT_TS_GEMM=stock` leaves tfjs's kernels alone. The path taken
 *   is reported once, with the backend;
 * - registers fused kernels with hand-written gradients: the softmax
 *   cross-entropy of the losses (./softmax-xent.ts), bias-gradient sums
 *   (./reduce.ts), and on the native GEMM path multi-head self-attention
 *   read in place from a fused q|k|v projection (./attention.ts), dense and
 *   LoRA layers (./dense.ts), LayerNorm/RMSNorm (./native-norm.ts), GELU and
 *   the AdamW update (./native-pointwise.ts).
 *   Callers fall back to the composite forms where a fused op declines;
 *   `PEFT_TS_FUSED=0` forces the composite forms everywhere (A/B, debugging).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { ensureGradients } from "./gradients.js";
import { registerFillins } from "./fillins.js";
import { loadNativeGemm } from "./gemm.js";
import { installMatMulKernels, type GemmPath } from "./matmul.js";

export type BackendName = "tensorflow" | "wasm" | "cpu";

/** Which GEMM the matrix-product kernels use. */
export interface GemmReport {
  /** `native openblas`, `js fallback`, `stock` (tfjs's own kernels), or `tensorflow` (libtensorflow's). */
  readonly path: "native openblas" | "js fallback" | "stock" | "tensorflow";
  /** Library and threads for the native path; why not native, for the others. */
  readonly detail: string;
}

export interface BackendReport {
  readonly backend: BackendName;
  readonly source: string;
  readonly forced: boolean;
  readonly gemm: GemmReport;
}

let current: BackendReport | undefined;
let gemm: GemmReport | undefined;

const PATH_NAMES: Record<GemmPath, GemmReport["path"]> = { native: "native openblas", js: "js fallback", stock: "stock" };

/**
 * Route the wasm and cpu matrix-product kernels through `want` (default: the
 * `PEFT_TS_GEMM` variable, else native when the addon loads, else js).
 * Benchmarks call it to compare paths within one process.
 */
export const setGemmPath = (want?: GemmPath): GemmReport => {
  const env = process.env["PEFT_TS_GEMM"];
  const requested = want ?? (env === "js" || env === "native" || env === "stock" ? env : undefined);
  if (env !== undefined && env !== "" && want === undefined && requested === undefined) {
    throw new Error(`PEFT_TS_GEMM=${env}: expected native, js or stock`);
  }
  const load = requested === "js" || requested === "stock" ? undefined : loadNativeGemm();
  if (requested === "native" && load !== undefined && !load.ok) {
    throw new Error(`PEFT_TS_GEMM=native but the native GEMM is unavailable: ${load.reason}`);
  }
  const path: GemmPath = requested ?? (load?.ok === true ? "native" : "js");
  installMatMulKernels(path, ["wasm", "cpu"], load?.ok === true ? load.gemm : undefined);
  let detail: string;
  if (path === "native" && load?.ok === true) {
    detail = `${load.gemm.info()}, ${load.gemm.threads()} thread(s)`;
  } else if (requested !== undefined) {
    detail = want !== undefined ? "requested" : `PEFT_TS_GEMM=${requested}`;
  } else {
    detail = load !== undefined && !load.ok ? load.reason : "";
  }
  gemm = { path: PATH_NAMES[path], detail };
  if (current !== undefined && current.backend !== "tensorflow") current = { ...current, gemm };
  return gemm;
};

/** The GEMM path in use, if {@link initBackend} or {@link setGemmPath} ran. */
export const gemmReport = (): GemmReport | undefined => gemm;

const tryImport = async (name: string): Promise<boolean> => {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
};

const candidates = async (): Promise<ReadonlyArray<{ backend: BackendName; source: string }>> => {
  const out: Array<{ backend: BackendName; source: string }> = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    if (await tryImport(pkg)) {
      out.push({ backend: "tensorflow", source: pkg });
      break;
    }
  }
  out.push({ backend: "wasm", source: "@tensorflow/tfjs-backend-wasm" });
  out.push({ backend: "cpu", source: "@tensorflow/tfjs-backend-cpu" });
  return out;
};

/**
 * Initialise the best available backend (idempotent).
 *
 * @example
 *   const { backend } = await initBackend(); // "wasm" on a machine without tfjs-node
 */
export const initBackend = async (
  options: { readonly force?: string; readonly quiet?: boolean } = {},
): Promise<BackendReport> => {
  const forced = options.force ?? process.env["PEFT_TS_BACKEND"];
  if (current !== undefined && (forced === undefined || forced === current.backend)) return current;
  const all = await candidates();
  const list = forced === undefined ? all : all.filter((c) => c.backend === forced);
  if (forced !== undefined && list.length === 0) {
    throw new Error(
      `PEFT_TS_BACKEND=${forced}: no such backend available (have: ${all.map((c) => c.backend).join(", ")})`,
    );
  }
  for (const c of list) {
    if (await tf.setBackend(c.backend)) {
      await tf.ready();
      quietCpuAdvert();
      let g: GemmReport;
      if (c.backend === "tensorflow") {
        g = { path: "tensorflow", detail: c.source };
      } else {
        await ensureGradients();
        registerFillins();
        g = gemm ?? setGemmPath();
      }
      current = { backend: c.backend, source: c.source, forced: forced !== undefined, gemm: g };
      if (options.quiet !== true && process.env["PEFT_TS_QUIET"] === undefined) {
        console.error(`[peft-ts] backend: ${c.backend} (${c.source})${forced ? " (forced)" : ""}`);
        console.error(`[peft-ts] gemm: ${g.path}${g.detail !== "" ? ` (${g.detail})` : ""}`);
      }
      return current;
    }
  }
  throw new Error("no TensorFlow.js backend could be initialised");
};

/**
 * tfjs's cpu backend prints an advert for tfjs-node on its first write in
 * Node; this library reports its own choice (and how to get a native
 * backend) once, so the advert is switched off.
 */
const quietCpuAdvert = (): void => {
  const cpu = tf.findBackend("cpu") as { firstUse?: boolean } | null;
  if (cpu !== null && "firstUse" in cpu) cpu.firstUse = false;
};

/** The backend chosen by {@link initBackend}, if any. */
export const backendReport = (): BackendReport | undefined => current;

export { withStockKernels, stockKernel, overriddenKernels } from "./registry.js";
export { registeredFillins } from "./fillins.js";
export { loadNativeGemm } from "./gemm.js";
export type { GemmPath } from "./matmul.js";
export { fusedEnabled, setFused } from "./fused.js";
export { setFusedLora, fusedLoraEnabled } from "./dense.js";
