/**
 * Every tuner law for LoRA and each of its variants. One `it` per law per
 * variant; a variant's laws run on arbitrary configs (rank, alpha, rsLoRA,
 * dropout, targets) and seeded models and inputs.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import { lora, type LoraConfig } from "../../src/index.js";
import { tunerLawNames, tunerProperties, tunerLaws, type ModelCase, type TunerLawName, type TunerLawOptions } from "../../laws/index.js";
import { arbConv1d, arbConv2d, arbEmbedding, arbLora, arbMlp, loraInits } from "./models.js";

/** Runs per law per variant (PEFT_TS_LAW_RUNS raises it for a soak). */
const NUM_RUNS = Number(process.env["PEFT_TS_LAW_RUNS"] ?? 15);

interface Variant {
  readonly name: string;
  readonly model: fc.Arbitrary<ModelCase>;
  readonly config: fc.Arbitrary<LoraConfig>;
  readonly options?: TunerLawOptions<LoraConfig>;
}

const noDora = (a: LoraConfig, b: LoraConfig) => !a.useDora && !b.useDora;

const variants: ReadonlyArray<Variant> = [
  {
    name: "linear MLP (targets by list, regex, all-linear)",
    model: arbMlp,
    config: arbLora({}, fc.constantFrom<LoraConfig["targetModules"]>(["lin0"], ["lin1"], ["lin0", "lin1"], "lin\\d", "all-linear")),
  },
  { name: "rsLoRA", model: arbMlp, config: arbLora({ useRslora: true, targetModules: ["lin0", "lin1"] }) },
  {
    name: "rank_pattern / alpha_pattern",
    model: arbMlp,
    config: arbLora({ targetModules: ["lin0", "lin1"], rankPattern: { lin1: 2 }, alphaPattern: { "lin0": 3 } }),
  },
  { name: "DoRA (linear)", model: arbMlp, config: arbLora({ useDora: true, targetModules: ["lin0", "lin1"] }), options: { mergeCommutes: noDora } },
  { name: "DoRA (conv2d)", model: arbConv2d, config: arbLora({ useDora: true, targetModules: ["conv0", "conv1"] }), options: { mergeCommutes: noDora } },
  { name: "DoRA (embedding)", model: arbEmbedding, config: arbLora({ useDora: true, targetModules: ["emb"] }), options: { mergeCommutes: noDora } },
  { name: "fan_in_fan_out on conv1d", model: arbConv1d, config: arbLora({ fanInFanOut: true, targetModules: ["c0", "c1"] }) },
  { name: "conv2d", model: arbConv2d, config: arbLora({}, fc.constantFrom<LoraConfig["targetModules"]>(["conv0"], ["conv0", "conv1"], ["conv0", "conv1", "lin"])) },
  { name: "embedding", model: arbEmbedding, config: arbLora({}, fc.constantFrom<LoraConfig["targetModules"]>(["emb"], ["emb", "lin"])) },
  { name: "bias='none'", model: arbMlp, config: arbLora({ bias: "none", targetModules: ["lin0"] }) },
  { name: "bias='all'", model: arbMlp, config: arbLora({ bias: "all", targetModules: ["lin0"] }) },
  { name: "bias='lora_only'", model: arbMlp, config: arbLora({ bias: "lora_only", targetModules: ["lin0"] }) },
  { name: "lora_bias", model: arbMlp, config: arbLora({ loraBias: true, targetModules: ["lin0", "lin1"] }) },
  { name: "modules_to_save", model: arbMlp, config: arbLora({ targetModules: ["lin0"], modulesToSave: ["lin1"] }) },
];

describe.each(variants)("LoRA laws: $name", ({ model, config, options }) => {
  const props = tunerProperties(lora, config, model, { ...loraInits, ...options });
  it.each(tunerLawNames.map((n) => [n] as const))("%s", async (name: TunerLawName) => {
    const before = tf.memory().numTensors;
    await fc.assert(props[name], { numRuns: NUM_RUNS });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("tunerLaws (the one-line form)", () => {
  it("runs every law for a tuner in one call", async () => {
    const before = tf.memory().numTensors;
    await tunerLaws(lora, arbLora({ targetModules: ["lin0", "lin1"] }), arbMlp, { ...loraInits, numRuns: 3 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("the domain of law 8", () => {
  it("DoRA merges do not commute (W' = m·(W+Δ)/‖W+Δ‖ renormalises), so the DoRA variants leave them out", async () => {
    const before = tf.memory().numTensors;
    const props = tunerProperties(lora, arbLora({ useDora: true, targetModules: ["lin0", "lin1"] }), arbMlp, loraInits);
    let message = "commuted";
    try {
      await fc.assert(props.mergeCommutes, { numRuns: 20 });
    } catch (e) {
      message = ((e as Error & { cause?: Error }).cause ?? (e as Error)).message;
    }
    expect(message).toMatch(/mergeCommutes: forward\(merge default then other\) vs forward\(merge other then default\): max error/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
