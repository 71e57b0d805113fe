/**
 * `npx tsx bench/profile.ts [train|forward|merged|base|full]`: per-kernel timings
 * (`tf.profile`) of one LoRA train step (or one unmerged / merged LoRA or base
 * forward, or one full fine-tuning step) of the shared workload, after warm-up; prints the top kernels by total
 * time, grouped by kernel name and by (name, input shapes).
 *
 * `tf.profile` also records composite scopes (a `tf.customGrad` op appears as
 * `unnamed scope`, `logSoftmax` as `logSoftmax__op`) next to the kernels they
 * run: those are listed but left out of the kernel total.
 *
 * Env: PROFILE_WARMUP (default 3), PROFILE_TOP (default 25), PEFT_TS_GEMM,
 * PEFT_TS_FUSED=0 (the composite forms, for before/after comparisons).
 */
import * as tf from "@tensorflow/tfjs-core";
import { setupWorkload } from "./workload.js";

const main = async (): Promise<void> => {
  const what = process.argv[2] ?? "train";
  const w = await setupWorkload();
  const pick: Record<string, (typeof w.measurements)[keyof typeof w.measurements]> = {
    train: w.measurements.lora_train_step,
    forward: w.measurements.lora_forward_unmerged,
    merged: w.measurements.lora_forward_merged,
    base: w.measurements.base_forward,
    full: w.measurements.base_full_finetune_step,
  };
  const f = pick[what];
  if (f === undefined) throw new Error("no such measurement");
  const warm = Number(process.env["PROFILE_WARMUP"] ?? 3);
  for (let i = 0; i < warm; i++) f();
  const t0 = performance.now();
  const info = await tf.profile(() => {
    f();
  });
  const wall = performance.now() - t0;
  const byName = new Map<string, { ms: number; n: number }>();
  const byShape = new Map<string, { ms: number; n: number }>();
  let total = 0;
  const isKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    if (isKernel(k.name)) total += ms;
    const a = byName.get(k.name) ?? { ms: 0, n: 0 };
    a.ms += ms;
    a.n++;
    byName.set(k.name, a);
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(" ")}`;
    const b = byShape.get(key) ?? { ms: 0, n: 0 };
    b.ms += ms;
    b.n++;
    byShape.set(key, b);
  }
  const top = Number(process.env["PROFILE_TOP"] ?? 25);
  const fmt = (m: Map<string, { ms: number; n: number }>) =>
    [...m.entries()]
      .sort((x, y) => y[1].ms - x[1].ms)
      .slice(0, top)
      .map(([k, v]) => `${v.ms.toFixed(1).padStart(8)} ms ${String(v.n).padStart(5)}×  ${k}${isKernel(k.split(" ")[0] ?? k) ? "" : "  (composite scope, not in total)"}`)
      .join("\n");
  const kernels = info.kernels.filter((k) => isKernel(k.name)).length;
  console.log(`${what}: gemm ${w.gemm}; wall (profiled) ${wall.toFixed(0)} ms; kernel total ${total.toFixed(0)} ms; ${kernels} kernels; newTensors ${info.newTensors}`);
  console.log("--- by kernel");
  console.log(fmt(byName));
  console.log("--- by kernel and input shapes");
  console.log(fmt(byShape));
  w.dispose();
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
