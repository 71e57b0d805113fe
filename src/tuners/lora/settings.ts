/**
 * What one LoRA adapter keeps on each layer: its slots' names, and r, α and
 * the scaling after `rank_pattern`/`alpha_pattern`.
 */
import { patternKey } from "../target.js";
import type { LoraConfig } from "./config.js";

/** What a LoRA adapter keeps on each layer. */
export interface LoraSettings {
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
  readonly dropout: number;
  readonly useDora: boolean;
  readonly loraBias: boolean;
}

export const loraSlots = ["lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"] as const;

/** r, α and the scaling for one module, after `rank_pattern`/`alpha_pattern`. */
export const loraSettingsFor = (config: LoraConfig, module: string): LoraSettings => {
  const rk = patternKey(config.rankPattern, module);
  const ak = patternKey(config.alphaPattern, module);
  const r = rk === undefined ? config.r : (config.rankPattern[rk] as number);
  const alpha = ak === undefined ? config.loraAlpha : (config.alphaPattern[ak] as number);
  return {
    r,
    alpha,
    scaling: config.useRslora ? alpha / Math.sqrt(r) : alpha / r,
    dropout: config.loraDropout,
    useDora: config.useDora,
    loraBias: config.loraBias,
  };
};
