/**
 * LoRA (Hu et al. 2021, arXiv:2106.09685) with rsLoRA (Kalajdzievski 2023,
 * α/√r) and DoRA (Liu et al. 2024, arXiv:2402.09353), as PEFT 0.20 computes them.
 *
 * @example
 *   const adapted = inject(base, lora, loraConfig({ r: 8, targetModules: ["c_attn"] }))
 */
import { innermostBase } from "../layer.js";
import type { Tuner } from "../types.js";
import { LoraConfig, loraDefaults } from "./config.js";
import { createLora, loraForward, loraSlots, mergeLora } from "./layer.js";

export * from "./config.js";
export { loraDelta, doraWeightNorm, loraSettingsFor, type LoraSettings } from "./layer.js";

/** The LoRA tuner. */
export const lora: Tuner<LoraConfig> = {
  peftType: "LORA",
  kind: "lora",
  codec: LoraConfig,
  defaults: loraDefaults,
  slots: loraSlots,
  supports: ["linear", "conv1d", "conv2d", "embedding"],
  create: createLora,
  forward: loraForward,
  merge: mergeLora,
  // PEFT forces fan_in_fan_out to the layer layout (true for GPT-2's Conv1D, false for Linear) and saves it so.
  resolveConfig: (c, targets) =>
    targets.some((t) => innermostBase(t).kind === "conv1d")
      ? { ...c, fanInFanOut: true }
      : targets.some((t) => innermostBase(t).kind === "linear")
        ? { ...c, fanInFanOut: false }
        : c,
  extraTrainable: (c) => (c.bias === "all" ? "all_biases" : c.bias === "lora_only" ? "adapted_biases" : "none"),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
};
