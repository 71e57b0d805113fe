/**
 * PEFT's per-`model_type` default `target_modules` (used when a config leaves
 * `target_modules` unset), as data. Same entries as PEFT's
 * `TRANSFORMERS_MODELS_TO_*_TARGET_MODULES_MAPPING` tables.
 */
import * as E from "fp-ts/lib/Either.js";

/** model_type → module-name suffixes. */
export type TargetTable = Readonly<Record<string, ReadonlyArray<string>>>;

const qv = ["q_proj", "v_proj"] as const;

/**
 * LoRA's table (also BOFT, LoHa, LoKr, OFT, HRA, Bone, MiSS, Poly, RandLoRA, RoAd).
 *
 * @example
 *   loraTargetModules["qwen2"] // ["q_proj", "v_proj"]
 */
export const loraTargetModules: TargetTable = {
  t5: ["q", "v"],
  mt5: ["q", "v"],
  bart: qv,
  gpt2: ["c_attn"],
  bloom: ["query_key_value"],
  "blip-2": ["q", "v", "q_proj", "v_proj"],
  opt: qv,
  gptj: qv,
  gpt_neox: ["query_key_value"],
  gpt_neo: qv,
  bert: ["query", "value"],
  roberta: ["query", "value"],
  "xlm-roberta": ["query", "value"],
  electra: ["query", "value"],
  "deberta-v2": ["query_proj", "value_proj"],
  deberta: ["in_proj"],
  layoutlm: ["query", "value"],
  llama: qv,
  llama4: qv,
  chatglm: ["query_key_value"],
  gpt_bigcode: ["c_attn"],
  mpt: ["Wqkv"],
  RefinedWebModel: ["query_key_value"],
  RefinedWeb: ["query_key_value"],
  falcon: ["query_key_value"],
  btlm: ["c_proj", "c_attn"],
  codegen: ["qkv_proj"],
  mistral: qv,
  mixtral: qv,
  stablelm: qv,
  phi: ["q_proj", "v_proj", "fc1", "fc2"],
  gemma: qv,
  gemma2: qv,
  gemma3_text: qv,
  qwen2: qv,
  qwen3: qv,
};

/**
 * IA³'s targets.
 *
 * @example
 *   ia3TargetModules["llama"] // ["k_proj", "v_proj", "down_proj"]
 */
export const ia3TargetModules: TargetTable = {
  t5: ["k", "v", "wo"],
  mt5: ["k", "v", "wi_1"],
  gpt2: ["c_attn", "mlp.c_proj"],
  bloom: ["query_key_value", "mlp.dense_4h_to_h"],
  roberta: ["key", "value", "output.dense"],
  opt: ["q_proj", "k_proj", "fc2"],
  gptj: ["q_proj", "v_proj", "fc_out"],
  gpt_neox: ["query_key_value", "dense_4h_to_h"],
  gpt_neo: ["q_proj", "v_proj", "c_proj"],
  bart: ["q_proj", "v_proj", "fc2"],
  gpt_bigcode: ["c_attn", "mlp.c_proj"],
  llama: ["k_proj", "v_proj", "down_proj"],
  llama4: ["q_proj", "v_proj", "down_proj"],
  mistral: ["k_proj", "v_proj", "down_proj"],
  mixtral: ["k_proj", "v_proj", "w2"],
  bert: ["key", "value", "output.dense"],
  "deberta-v2": ["key_proj", "value_proj", "output.dense"],
  deberta: ["in_proj", "output.dense"],
  RefinedWebModel: ["query_key_value", "dense_4h_to_h"],
  RefinedWeb: ["query_key_value", "dense_4h_to_h"],
  falcon: ["query_key_value", "dense_4h_to_h"],
  phi: ["q_proj", "v_proj", "fc2"],
  gemma: ["q_proj", "v_proj", "down_proj"],
  gemma2: ["q_proj", "v_proj", "down_proj"],
  gemma3_text: ["q_proj", "v_proj", "down_proj"],
  qwen2: ["q_proj", "v_proj", "down_proj"],
  qwen3: ["q_proj", "v_proj", "down_proj"],
};

/**
 * IA³'s `feedforward_modules` (scaled on the input side).
 *
 * @example
 *   ia3FeedforwardModules["gpt2"] // ["mlp.c_proj"]
 */
export const ia3FeedforwardModules: TargetTable = {
  t5: ["wo"],
  mt5: [],
  gpt2: ["mlp.c_proj"],
  bloom: ["mlp.dense_4h_to_h"],
  roberta: ["output.dense"],
  opt: ["fc2"],
  gptj: ["fc_out"],
  gpt_neox: ["dense_4h_to_h"],
  gpt_neo: ["c_proj"],
  bart: ["fc2"],
  gpt_bigcode: ["mlp.c_proj"],
  llama: ["down_proj"],
  llama4: ["down_proj"],
  mistral: ["down_proj"],
  mixtral: ["w2"],
  bert: ["output.dense"],
  "deberta-v2": ["output.dense"],
  deberta: ["output.dense"],
  RefinedWeb: ["dense_4h_to_h"],
  RefinedWebModel: ["dense_4h_to_h"],
  falcon: ["dense_4h_to_h"],
  phi: ["fc2"],
  gemma: ["down_proj"],
  gemma2: ["down_proj"],
  gemma3_text: ["down_proj"],
  qwen2: ["down_proj"],
  qwen3: ["down_proj"],
};

/**
 * LN tuning's targets (the norms).
 *
 * @example
 *   lnTuningTargetModules["gpt2"] // ["ln_1", "ln_2", "ln_f"]
 */
export const lnTuningTargetModules: TargetTable = {
  llama: ["input_layernorm", "post_attention_layernorm", "norm"],
  bloom: ["input_layernorm", "post_attention_layernorm", "ln_f"],
  t5: ["layer_norm", "final_layer_norm"],
  mt5: ["layer_norm", "final_layer_norm"],
  bart: ["self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"],
  gpt2: ["ln_1", "ln_2", "ln_f"],
  gptj: ["ln_1", "ln_f"],
  falcon: ["input_layernorm", "post_attention_layernorm", "ln_f"],
  mistral: ["input_layernorm", "post_attention_layernorm", "norm"],
  phi: ["input_layernorm", "final_layernorm"],
  gemma: ["input_layernorm", "post_attention_layernorm", "norm"],
  qwen2: ["post_attention_layernorm"],
  qwen3: ["post_attention_layernorm"],
};

/**
 * AdaLoRA's targets.
 *
 * @example
 *   adaloraTargetModules["roberta"] // ["query", "key", "value", "dense"]
 */
export const adaloraTargetModules: TargetTable = {
  ...Object.fromEntries(
    ["gpt2", "bloom", "gptj", "gpt_neox", "gpt_neo", "llama", "llama4", "bert", "gpt_bigcode", "deberta"].map((k) => [k, loraTargetModules[k] ?? []]),
  ),
  ...Object.fromEntries(["gemma", "gemma2", "gemma3_text", "qwen2", "qwen3"].map((k) => [k, qv])),
  t5: ["q", "k", "v", "o", "wi", "wo"],
  mt5: ["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
  bart: ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
  opt: ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
  roberta: ["query", "key", "value", "dense"],
  "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
};

/**
 * Per PEFT type, its table (methods not listed use LoRA's).
 *
 * @example
 *   targetModuleTables["FOURIERFT"]?.["gpt2"] // ["mlp.c_proj"]
 */
export const targetModuleTables: Readonly<Record<string, TargetTable>> = {
  LORA: loraTargetModules,
  IA3: ia3TargetModules,
  LN_TUNING: lnTuningTargetModules,
  ADALORA: adaloraTargetModules,
  FOURIERFT: { ...loraTargetModules, gpt2: ["mlp.c_proj"], gpt_bigcode: ["mlp.c_proj"] },
  C3A: { ...loraTargetModules, gpt2: ["mlp.c_proj"], gpt_bigcode: ["mlp.c_proj"] },
  VERA: { ...loraTargetModules, phi: qv },
  SHIRA: { ...loraTargetModules, phi: qv },
};

/**
 * The default `target_modules` for a PEFT method and a `model_type`; like
 * PEFT, an unknown model type is an error (name the modules yourself).
 *
 * @example
 *   defaultTargetModules("LORA", "llama")  // Right(["q_proj", "v_proj"])
 *   defaultTargetModules("IA3", "gpt2")    // Right(["c_attn", "mlp.c_proj"])
 */
export const defaultTargetModules = (peftType: string, modelType: string): E.Either<Error, ReadonlyArray<string>> => {
  const table = targetModuleTables[peftType.toUpperCase()] ?? loraTargetModules;
  const found = table[modelType];
  return found !== undefined
    ? E.right(found)
    : E.left(new Error(`no default target_modules for model_type '${modelType}' (${peftType}); please specify target_modules in the config`));
};

/**
 * Heads PEFT adds to `modules_to_save` for a task type (`PeftModelForSequenceClassification` …).
 *
 * @example
 *   taskModulesToSave["SEQ_CLS"] // ["classifier", "score"]
 */
export const taskModulesToSave: Readonly<Record<string, ReadonlyArray<string>>> = {
  SEQ_CLS: ["classifier", "score"],
  TOKEN_CLS: ["classifier", "score"],
  QUESTION_ANS: ["qa_outputs"],
};
