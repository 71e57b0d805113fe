/**
 * GEMM micro-benchmark: GFLOP/s of `tf.matMul` at n = 256, 512, 1024, 2048,
 * non-transposed (`nn`), `x·Wᵀ` (`nt`), `Aᵀ·B` (`tn`) and a batch of 8
 * (`batched`, [8,n/4,n]·[8,n,n/4]ᵀ: attention-shaped), on each GEMM path:
 * `stock` (tfjs's kernels), `js` (explicit transposes + the fast 2-D product)
 * and `native` (OpenBLAS through the peft_gemm addon, when built).
 *
 *   npx tsx bench/gemm.ts [--backend wasm|cpu] [--sizes 256,512] [--budget 20]
 *
 * Prints one JSON document on stdout. Times are medians over repetitions
 * (at least 3, or as many as fit in ~1 s); a case whose single run is
 * predicted (from the next-smaller size, ×8) to exceed `--budget` seconds is
 * skipped and reported with `skipped`. For scale: this machine's float32 GEMM
 * peak is ~235 GFLOP/s on two cores (OpenBLAS via numpy; ../shared/bench).
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, loadNativeGemm, setGemmPath, type GemmPath } from "../src/backend/index.js";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
};

const backend = arg("backend", "wasm");
const sizes = arg("sizes", "256,512,1024,2048").split(",").map(Number);
const budgetS = Number(arg("budget", "20"));

type Variant = "nn" | "nt" | "tn" | "batched";
const VARIANTS: Variant[] = ["nn", "nt", "tn", "batched"];

interface Row {
  n: number;
  variant: Variant;
  path: GemmPath;
  ms?: number;
  gflops?: number;
  reps?: number;
  skipped?: string;
}

const shapes = (n: number, v: Variant): { a: number[]; b: number[]; ta: boolean; tb: boolean; flops: number } => {
  switch (v) {
    case "nn":
      return { a: [n, n], b: [n, n], ta: false, tb: false, flops: 2 * n ** 3 };
    case "nt":
      return { a: [n, n], b: [n, n], ta: false, tb: true, flops: 2 * n ** 3 };
    case "tn":
      return { a: [n, n], b: [n, n], ta: true, tb: false, flops: 2 * n ** 3 };
    case "batched":
      return { a: [8, n / 4, n], b: [8, n / 4, n], ta: false, tb: true, flops: 2 * 8 * (n / 4) ** 2 * n };
  }
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)] as number;
};

const main = async (): Promise<void> => {
  const report = await initBackend({ force: backend, quiet: true });
  const paths: GemmPath[] = ["stock", "js"];
  const native = loadNativeGemm();
  if (native.ok) paths.push("native");
  const rows: Row[] = [];
  const lastMs = new Map<string, number>();
  for (const n of sizes) {
    for (const variant of VARIANTS) {
      const s = shapes(n, variant);
      const a = tf.randomNormal(s.a);
      const b = tf.randomNormal(s.b);
      for (const path of paths) {
        setGemmPath(path);
        const key = `${variant}/${path}`;
        const prev = lastMs.get(key);
        if (prev !== undefined && (prev * 8) / 1000 > budgetS) {
          rows.push({ n, variant, path, skipped: `predicted ${((prev * 8) / 1000).toFixed(0)} s > budget ${budgetS} s` });
          lastMs.set(key, prev * 8);
          continue;
        }
        const run = (): number => {
          const t0 = performance.now();
          const y = tf.matMul(a, b, s.ta, s.tb);
          const ms = performance.now() - t0;
          y.dispose();
          return ms;
        };
        const first = run(); // warm-up (XNNPACK packing, OpenBLAS thread start-up)
        const times: number[] = [];
        const reps = first * 3 > 1000 ? 1 : Math.max(3, Math.min(50, Math.floor(1000 / Math.max(first, 0.01))));
        for (let i = 0; i < reps; i++) times.push(run());
        const ms = median(times);
        lastMs.set(key, ms);
        rows.push({ n, variant, path, ms: Number(ms.toFixed(3)), gflops: Number((s.flops / ms / 1e6).toFixed(2)), reps });
      }
      tf.dispose([a, b]);
    }
  }
  setGemmPath();
  const out = {
    backend: report.backend,
    gemmDefault: report.gemm,
    native: native.ok ? { path: native.path, info: native.gemm.info(), threads: native.gemm.threads() } : { unavailable: native.reason },
    peakReferenceGflops: 235,
    node: process.version,
    results: rows,
  };
  console.log(JSON.stringify(out, null, 2));
};

await main();
