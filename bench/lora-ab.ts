/**
 * `npx tsx bench/lora-ab.ts`: the fused LoRA dense op (src/backend/dense.ts)
 * on vs off within one process, on the shared workload: per round, the LoRA
 * train step and the unmerged LoRA forward with the op on and off, in
 * alternating order; prints median wall-clock and median process CPU time
 * (user + system, less sensitive to other load on a shared machine) and their
 * ratios (on / off). Env: BENCH_WARMUP (3), BENCH_RUNS (10),
 * PEFT_TS_GEMM_THREADS (OpenBLAS threads).
 */
import * as os from "node:os";
import { setFusedLora } from "../src/backend/dense.js";
import { setupWorkload } from "./workload.js";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const main = async (): Promise<void> => {
  const w = await setupWorkload();
  const warmup = Number(process.env["BENCH_WARMUP"] ?? 3);
  const runs = Number(process.env["BENCH_RUNS"] ?? 10);
  const keys = ["lora_train_step", "lora_forward_unmerged"] as const;
  const times: Record<string, number[]> = {};
  const loadStart = os.loadavg();
  for (let round = 0; round < warmup + runs; round++) {
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const k of keys) {
      for (const on of order) {
        setFusedLora(on);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        w.measurements[k]();
        const dt = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (round >= warmup) {
          (times[`${k} ${on ? "fused" : "composite"}`] ??= []).push(dt);
          (times[`${k} ${on ? "fused" : "composite"} cpu`] ??= []).push((c.user + c.system) / 1000);
        }
      }
    }
  }
  setFusedLora(undefined);
  const out: Record<string, unknown> = { warmup, runs, load_average: { start: loadStart, end: os.loadavg() } };
  for (const k of keys) {
    const r1 = (v: number) => Math.round(v * 10) / 10;
    const f = median(times[`${k} fused`] as number[]);
    const c = median(times[`${k} composite`] as number[]);
    const fc = median(times[`${k} fused cpu`] as number[]);
    const cc = median(times[`${k} composite cpu`] as number[]);
    out[k] = {
      wall: { fused_median_ms: r1(f), composite_median_ms: r1(c), ratio: Math.round((f / c) * 1000) / 1000 },
      cpu: { fused_median_ms: r1(fc), composite_median_ms: r1(cc), ratio: Math.round((fc / cc) * 1000) / 1000 },
    };
  }
  console.log(JSON.stringify(out, null, 2));
  w.dispose();
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
