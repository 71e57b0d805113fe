/**
 * Seeded initialisers matching PyTorch's defaults in distribution (not in
 * bits: torch's generator is not reproduced).
 */
import * as tf from "@tensorflow/tfjs-core";

/** A seed; derive independent sub-seeds with {@link split}. */
export type Seed = number;

/** A new seed from a seed and a label (deterministic, well mixed). */
export const split = (seed: Seed, label: string | number): Seed => {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of String(label)) {
    h = Math.imul(h ^ ch.charCodeAt(0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
};

/** U(-bound, bound). */
export const uniform = (shape: ReadonlyArray<number>, bound: number, seed: Seed): tf.Tensor =>
  tf.randomUniform([...shape], -bound, bound, "float32", seed);

/** N(0, std²). */
export const normal = (shape: ReadonlyArray<number>, std: number, seed: Seed): tf.Tensor =>
  tf.randomNormal([...shape], 0, std, "float32", seed);

/**
 * torch's `kaiming_uniform_(w, a=√5)` for a weight whose fan-in is `fanIn`:
 * U(-1/√fanIn, 1/√fanIn). It is the default init of nn.Linear / nn.Conv2d and
 * of LoRA's A matrix.
 */
export const kaimingUniformA5 = (shape: ReadonlyArray<number>, fanIn: number, seed: Seed): tf.Tensor =>
  uniform(shape, 1 / Math.sqrt(fanIn), seed);
