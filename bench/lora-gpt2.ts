/**
 * `npm run bench`: the shared workload (../shared/bench/workload.json) —
 * LoRA r=8 on a GPT-2-shaped decoder (d=256, 4 layers, vocab 5000, batch 8×128),
 * AdamW — timed like Python PEFT was: warm-up rounds, then measured rounds,
 * measurements interleaved round-robin, median per measurement.
 *
 * Runs the workload once per GEMM path — `native` (the OpenBLAS addon, when it
 * loads) and `js` (the fallback) — in one process, switching with
 * `setGemmPath`, and prints one JSON object: `gemm_active` (the path
 * `initBackend` chose, i.e. what a user gets), `load_average` (the machine's
 * 1/5/15-minute load when the run started and ended: timings are wall-clock),
 * and per path (`paths.native`, `paths.js`) the keys of
 * ../shared/bench/python-peft-timings.json plus `gemm` (provider detail),
 * `vs_python_peft` (our median / PEFT's median), `spread` (min/median/max per
 * measurement) and `peak_rss_mb`.
 *
 * Flags: `--gemm native,js` (the paths to run, in order; default: every
 * available one, native first). Env: BENCH_WARMUP (default 5), BENCH_RUNS
 * (default 20), BENCH_WORKLOAD (path).
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { backendReport, gemmReport, loadNativeGemm, setGemmPath, type GemmPath } from "../src/index.js";
import { MEASUREMENTS, sharedBench, setupWorkload, type Measurement } from "./workload.js";

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  const r = (v: number) => Math.round(v * 100) / 100;
  return { median_ms: r(median), min_ms: r(s[0] as number), max_ms: r(s[s.length - 1] as number), runs: s.length };
};

const load = () => os.loadavg().map((v) => Math.round(v * 100) / 100);

const parsePaths = (): GemmPath[] => {
  const i = process.argv.indexOf("--gemm");
  const arg = i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith("--gemm="))?.slice("--gemm=".length);
  if (arg === undefined) return loadNativeGemm().ok ? ["native", "js"] : ["js"];
  const paths = arg.split(",").map((p) => p.trim());
  for (const p of paths) if (p !== "native" && p !== "js" && p !== "stock") throw new Error(`--gemm: unknown path '${p}' (native, js, stock)`);
  return paths as GemmPath[];
};

const main = async (): Promise<void> => {
  const python = JSON.parse(await fs.readFile(nodePath.join(sharedBench, "python-peft-timings.json"), "utf8").catch(() => "null"));
  const paths = parsePaths();
  const loadStart = load();
  const w = await setupWorkload();
  const active = gemmReport();
  const warmup = Number(process.env["BENCH_WARMUP"] ?? w.timing.warmup ?? 5);
  const runs = Number(process.env["BENCH_RUNS"] ?? w.timing.runs ?? 20);
  const results: Record<string, unknown> = {};
  for (const path of paths) {
    const g = setGemmPath(path);
    const times: Record<Measurement, number[]> = Object.fromEntries(MEASUREMENTS.map((k) => [k, []])) as unknown as Record<Measurement, number[]>;
    let peakRss = process.memoryUsage().rss;
    for (let round = 0; round < warmup + runs; round++) {
      for (const k of MEASUREMENTS) {
        const t0 = performance.now();
        w.measurements[k]();
        const dt = performance.now() - t0;
        if (round >= warmup) times[k].push(dt);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }
    }
    const detail = Object.fromEntries(MEASUREMENTS.map((k) => [k, stats(times[k])])) as Record<Measurement, ReturnType<typeof stats>>;
    const med = (k: Measurement) => detail[k].median_ms;
    const ratio = (a: Measurement, b: Measurement) => Math.round((med(a) / med(b)) * 1000) / 1000;
    results[path] = {
      gemm: `${g.path}${g.detail !== "" ? ` (${g.detail})` : ""}`,
      median_ms: Object.fromEntries(MEASUREMENTS.map((k) => [k, med(k)])),
      vs_python_peft:
        python === null ? null : Object.fromEntries(MEASUREMENTS.map((k) => [k, Math.round((med(k) / (python.median_ms[k] as number)) * 100) / 100])),
      ratios: {
        "lora_train_step / base_full_finetune_step": ratio("lora_train_step", "base_full_finetune_step"),
        "lora_forward_unmerged / base_forward": ratio("lora_forward_unmerged", "base_forward"),
        "lora_forward_merged / base_forward": ratio("lora_forward_merged", "base_forward"),
        "lora_forward_unmerged / lora_forward_merged": ratio("lora_forward_unmerged", "lora_forward_merged"),
      },
      spread: Object.fromEntries(MEASUREMENTS.map((k) => [k, `${detail[k].min_ms} / ${detail[k].median_ms} / ${detail[k].max_ms}`])),
      peak_rss_mb: Math.round(peakRss / 2 ** 20),
      detail,
    };
  }
  if (active !== undefined) setGemmPath();
  const out = {
    workload: w.name,
    impl: "peft-ts",
    backend: backendReport()?.backend ?? null,
    gemm_active: active === undefined ? null : `${active.path}${active.detail !== "" ? ` (${active.detail})` : ""}`,
    warmup,
    runs,
    params_total: w.counts.total,
    params_trainable_lora: w.counts.trainable,
    load_average: { start: loadStart, end: load(), cpus: os.cpus().length },
    python_peft_median_ms: python?.median_ms ?? null,
    paths: results,
  };
  console.log(JSON.stringify(out, null, 2));
  w.dispose();
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
