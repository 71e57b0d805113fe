/**
 * LoRA's config: every field of PEFT 0.20's `LoraConfig` as written in
 * adapter_config.json, with PEFT's defaults. Fields this library does not act
 * on (Megatron, EVA, CorDA, QA-LoRA, …) are still decoded, kept and written
 * back, so a config round-trips unchanged.
 */
import * as t from "io-ts";
import {
  baseFields,
  configCodec,
  defaultsOf,
  field,
  Json,
  nullable,
  NumberPattern,
  PositiveInt,
  Rate,
  type ConfigOf,
} from "../config.js";

/** `bias`: which biases an adapter trains and saves. */
export const Bias = t.keyof({ none: null, all: null, lora_only: null });

/**
 * `init_lora_weights`: `true` (kaiming-uniform A, zero B: a no-op), `false`
 * (both random: not a no-op), `"gaussian"` (A ~ N(0, 1/r), zero B). PEFT's
 * data-driven inits (`"pissa"`, `"olora"`, `"loftq"`, `"eva"`, …) decode but are
 * refused at inject time with a clear error.
 */
export const InitLoraWeights = t.union([t.boolean, t.string]);

export const loraFields = {
  ...baseFields,
  peftType: field("peft_type", t.literal("LORA") as t.Type<"LORA", unknown, unknown>, "LORA"),
  r: field("r", PositiveInt, 8),
  loraAlpha: field("lora_alpha", t.number as t.Type<number, unknown, unknown>, 8),
  loraDropout: field("lora_dropout", Rate, 0),
  fanInFanOut: field("fan_in_fan_out", t.boolean as t.Type<boolean, unknown, unknown>, false),
  bias: field("bias", Bias as t.Type<"none" | "all" | "lora_only", unknown, unknown>, "none"),
  useRslora: field("use_rslora", t.boolean as t.Type<boolean, unknown, unknown>, false),
  initLoraWeights: field("init_lora_weights", InitLoraWeights as t.Type<boolean | string, unknown, unknown>, true),
  layerReplication: field("layer_replication", Json, null),
  rankPattern: field("rank_pattern", NumberPattern, {}),
  alphaPattern: field("alpha_pattern", NumberPattern, {}),
  megatronConfig: field("megatron_config", Json, null),
  megatronCore: field("megatron_core", nullable(t.string as t.Type<string, unknown, unknown>), "megatron.core"),
  loftqConfig: field("loftq_config", Json, {}),
  useDora: field("use_dora", t.boolean as t.Type<boolean, unknown, unknown>, false),
  loraBias: field("lora_bias", t.boolean as t.Type<boolean, unknown, unknown>, false),
  evaConfig: field("eva_config", Json, null),
  cordaConfig: field("corda_config", Json, null),
  trainableTokenIndices: field("trainable_token_indices", Json, null),
  useQalora: field("use_qalora", t.boolean as t.Type<boolean, unknown, unknown>, false),
  qaloraGroupSize: field("qalora_group_size", t.number as t.Type<number, unknown, unknown>, 16),
  targetParameters: field("target_parameters", Json, null),
  aloraInvocationTokens: field("alora_invocation_tokens", Json, null),
  arrowConfig: field("arrow_config", Json, null),
  ensureWeightTying: field("ensure_weight_tying", t.boolean as t.Type<boolean, unknown, unknown>, false),
  useBdlora: field("use_bdlora", Json, null),
  loraGaConfig: field("lora_ga_config", Json, null),
  velOraConfig: field("velora_config", Json, null),
  montecloraConfig: field("monteclora_config", Json, null),
} as const;

/** A LoRA config (camelCase; `extra` holds unknown keys from newer PEFT versions). */
export type LoraConfig = ConfigOf<typeof loraFields>;

/** adapter_config.json ⇄ LoraConfig. */
export const LoraConfig = configCodec("LoraConfig", loraFields);

/** PEFT's defaults. */
export const loraDefaults: LoraConfig = defaultsOf(loraFields);

/**
 * A LoRA config from the fields you set; the rest are PEFT's defaults.
 *
 * @example
 *   const cfg = loraConfig({ r: 8, loraAlpha: 16, targetModules: ["c_attn"] })
 */
export const loraConfig = (fields: Partial<LoraConfig>): LoraConfig => ({ ...loraDefaults, ...fields });
