/**
 * Elementwise kernels where tfjs-backend-wasm is slow enough to dominate a
 * training step (measured on the shared GPT-2 workload with `tf.profile`),
 * registered by {@link registerElementwise}:
 *
 * - comparisons and logical ops with broadcasting (./compare.ts), on wasm
 *   and cpu;
 * - `Pow` with a small scalar exponent (./pow.ts), on wasm and cpu;
 * - on wasm, `GatherV2`, `Slice`, `SplitV`, and `Identity` / same-dtype
 *   `Cast`, which copied more than they had to (./wasm-memory.ts).
 *
 * Inputs are read and outputs written in place (views of the wasm heap, cpu
 * value arrays).
 */
import * as tf from "@tensorflow/tfjs-core";
import { COMPARISONS, compareKernel } from "./compare.js";
import { powKernel } from "./pow.js";
import { override } from "./registry.js";
import { gatherKernel, shareKernel, sliceKernel, splitVKernel } from "./wasm-memory.js";

/** Register the elementwise kernels on `backends` (idempotent per call site). */
export const registerElementwise = (backends: ReadonlyArray<string>): string[] => {
  const done: string[] = [];
  for (const backend of backends) {
    for (const op of COMPARISONS) {
      if (tf.getKernel(op, backend) === undefined) continue;
      override(op, backend, compareKernel(op, backend));
      done.push(`${backend}/${op}`);
    }
    if (tf.getKernel(tf.Pow, backend) !== undefined) {
      override(tf.Pow, backend, powKernel(backend));
      done.push(`${backend}/${tf.Pow}`);
    }
    if (backend === "wasm") {
      const memory: ReadonlyArray<readonly [string, (b: string) => tf.KernelFunc]> = [
        [tf.GatherV2, gatherKernel],
        [tf.Slice, sliceKernel],
        [tf.SplitV, splitVKernel],
      ];
      for (const [k, make] of memory) {
        if (tf.getKernel(k, backend) === undefined) continue;
        override(k, backend, make(backend));
        done.push(`${backend}/${k}`);
      }
      for (const k of [tf.Identity, tf.Cast]) {
        if (tf.getKernel(k, backend) === undefined) continue;
        override(k, backend, shareKernel(k, backend));
        done.push(`${backend}/${k}`);
      }
    }
  }
  return done;
};
