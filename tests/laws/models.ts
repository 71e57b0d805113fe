/**
 * Small base models and LoRA config arbitraries for the law suites: the
 * golden-case MLP, a GPT-2-style `conv1d` stack, a conv2d net and an
 * embedding model, each with seeded weights and inputs.
 */
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import { activation, conv1d, fromLayers, loraConfig, sequential, type LayerSpec, type LoraConfig } from "../../src/index.js";
import type { ModelCase } from "../../laws/index.js";

export const mlpSpecs: ReadonlyArray<LayerSpec> = [
  { name: "lin0", op: "linear", in_features: 10, out_features: 20 },
  { name: "relu", op: "relu" },
  { name: "lin1", op: "linear", in_features: 20, out_features: 2 },
  { name: "sm", op: "log_softmax" },
];

export const convSpecs: ReadonlyArray<LayerSpec> = [
  { name: "conv0", op: "conv2d", in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1 },
  { name: "relu", op: "relu" },
  { name: "conv1", op: "conv2d", in_channels: 4, out_channels: 2, kernel_size: 1 },
  { name: "flat", op: "flatten" },
  { name: "lin", op: "linear", in_features: 2 * 5 * 5, out_features: 3 },
];

export const embSpecs: ReadonlyArray<LayerSpec> = [
  { name: "emb", op: "embedding", num_embeddings: 12, embedding_dim: 6 },
  { name: "lin", op: "linear", in_features: 6, out_features: 3 },
];

const seeds = fc.record({ seed: fc.integer({ min: 0, max: 10_000 }), batch: fc.integer({ min: 1, max: 3 }) });

/** The golden MLP (10 → 20 → 2, relu, log_softmax) on x ~ N(0, 1) of shape [batch, 10]. */
export const arbMlp: fc.Arbitrary<ModelCase> = seeds.map(({ seed, batch }) => ({
  name: "mlp",
  model: () => fromLayers(mlpSpecs, seed),
  input: () => tf.randomNormal([batch, 10], 0, 1, "float32", seed),
}));

/** Two GPT-2 `Conv1D` layers (weight [in, out]) with a gelu between, on [batch, 3, 6]. */
export const arbConv1d: fc.Arbitrary<ModelCase> = seeds.map(({ seed, batch }) => ({
  name: "conv1d",
  model: () =>
    sequential({
      c0: conv1d({ inFeatures: 6, outFeatures: 8, std: 0.3 }, seed),
      act: activation("gelu"),
      c1: conv1d({ inFeatures: 8, outFeatures: 3, std: 0.3 }, seed + 1),
    }),
  input: () => tf.randomNormal([batch, 3, 6], 0, 1, "float32", seed),
}));

/** conv2d 3→4 (3×3, pad 1), relu, conv2d 4→2 (1×1), flatten, linear → 3, on NCHW [batch, 3, 5, 5]. */
export const arbConv2d: fc.Arbitrary<ModelCase> = seeds.map(({ seed, batch }) => ({
  name: "conv2d",
  model: () => fromLayers(convSpecs, seed),
  input: () => tf.randomNormal([batch, 3, 5, 5], 0, 1, "float32", seed),
}));

/** embedding 12×6 then linear → 3, on int32 ids [batch, 4]. */
export const arbEmbedding: fc.Arbitrary<ModelCase> = seeds.map(({ seed, batch }) => ({
  name: "embedding",
  model: () => fromLayers(embSpecs, seed),
  input: () => tf.randomUniformInt([batch, 4], 0, 12, seed),
}));

/**
 * LoRA configs: rank 1–4, alpha 1–16, rsLoRA on or off, dropout (inactive in
 * eval mode), plus the fields a variant fixes.
 */
export const arbLora = (fixed: Partial<LoraConfig>, targets?: fc.Arbitrary<LoraConfig["targetModules"]>): fc.Arbitrary<LoraConfig> =>
  fc
    .record({
      r: fc.integer({ min: 1, max: 4 }),
      loraAlpha: fc.integer({ min: 1, max: 16 }),
      useRslora: fc.boolean(),
      loraDropout: fc.constantFrom(0, 0.1),
      targetModules: targets ?? fc.constant(fixed.targetModules ?? null),
    })
    .map((v) => loraConfig({ ...v, ...fixed, targetModules: v.targetModules }));

/** LoRA's inits for the laws: law 1 with B = 0, the others with random B. */
export const loraInits = {
  identityInit: (c: LoraConfig): LoraConfig => ({ ...c, initLoraWeights: true }),
  nonTrivial: (c: LoraConfig): LoraConfig => ({ ...c, initLoraWeights: false }),
};

/** Run a test body and check it leaves `tf.memory().numTensors` where it found it. */
export const leakFree = async <A>(f: () => A | Promise<A>): Promise<A> => {
  const before = tf.memory().numTensors;
  const out = await f();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`leaked ${after - before} tensors (${before} → ${after})`);
  return out;
};

/** The message of what `f` throws, with fast-check's cause (the law's own message). */
export const failure = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    const err = e as Error & { cause?: unknown };
    return `${err.message}\n${err.cause instanceof Error ? err.cause.message : ""}`;
  }
  return "did not throw";
};
