/**
 * The LLaMA family's `config.json` (Llama, Mistral, Qwen2): one codec, with
 * each model type's defaults as transformers has them.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { activationNames, type ActivationName } from "../../nn/activation.js";
import { check, checkOneOf, decodeWith, firstId, numLabelsOf, OptNumber, TaskFields, type ConfigError } from "../common/config.js";

/**
 * `model_type`s decoded here.
 *
 * @example
 *   llamaFamily.includes("qwen2") // true
 */
export const llamaFamily = ["llama", "mistral", "qwen2"] as const;
export type LlamaFamily = (typeof llamaFamily)[number];

const RopeScaling = t.intersection([
  t.partial({ rope_type: t.string, type: t.string, factor: t.number, rope_theta: t.number }),
  t.partial({ low_freq_factor: t.number, high_freq_factor: t.number, original_max_position_embeddings: t.number }),
]);

/**
 * The fields of a LLaMA-family config.json read here (all optional on disk).
 *
 * @example
 *   LlamaConfigJson.is({ num_key_value_heads: 8 }) // true
 */
export const LlamaConfigJson = t.intersection([
  TaskFields,
  t.partial({
    model_type: t.string,
    vocab_size: t.number,
    hidden_size: t.number,
    intermediate_size: t.number,
    num_hidden_layers: t.number,
    num_attention_heads: t.number,
    num_key_value_heads: OptNumber,
    head_dim: OptNumber,
    hidden_act: t.string,
    max_position_embeddings: t.number,
    initializer_range: t.number,
    rms_norm_eps: t.number,
    rope_theta: t.number,
    rope_scaling: t.union([RopeScaling, t.null]),
    rope_parameters: t.union([RopeScaling, t.null]),
    attention_bias: t.boolean,
    attention_dropout: t.number,
    mlp_bias: t.boolean,
    sliding_window: OptNumber,
    use_sliding_window: t.boolean,
    max_window_layers: t.number,
  }),
]);
export type LlamaConfigJson = t.TypeOf<typeof LlamaConfigJson>;

/** How RoPE frequencies are scaled (`rope_scaling.rope_type`). */
export type RopeScalingConfig =
  | { readonly _tag: "default" }
  | { readonly _tag: "linear"; readonly factor: number }
  | {
      readonly _tag: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** A decoded LLaMA-family config, defaults filled in. */
export interface LlamaConfig {
  readonly modelType: LlamaFamily;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly hiddenAct: ActivationName;
  readonly maxPositionEmbeddings: number;
  readonly initializerRange: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScalingConfig;
  /** q/k/v projections have a bias (Qwen2: always; Llama: `attention_bias`). */
  readonly qkvBias: boolean;
  /** o_proj has a bias (Llama's `attention_bias`; never for Qwen2/Mistral). */
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  readonly attentionDropout: number;
  /** Per layer: the sliding attention window, or undefined for full attention. */
  readonly slidingWindows: ReadonlyArray<number | undefined>;
  readonly tieWordEmbeddings: boolean;
  readonly numLabels: number;
  readonly padTokenId: number | undefined;
  readonly raw: Readonly<Record<string, unknown>>;
}

const defaults: Record<LlamaFamily, { vocab: number; inter: number; maxPos: number; kv?: number }> = {
  llama: { vocab: 32000, inter: 11008, maxPos: 2048 },
  mistral: { vocab: 32000, inter: 14336, maxPos: 4096 * 32, kv: 8 },
  qwen2: { vocab: 151936, inter: 22016, maxPos: 32768 },
};

const ropeOf = (c: LlamaConfigJson): E.Either<ConfigError, RopeScalingConfig> => {
  const s = c.rope_scaling ?? c.rope_parameters ?? undefined;
  const type = s?.rope_type ?? s?.type ?? "default";
  if (s === undefined || type === "default") return E.right({ _tag: "default" });
  if (type === "linear") return E.right({ _tag: "linear", factor: s.factor ?? 1 });
  if (type === "llama3") {
    return E.right({
      _tag: "llama3",
      factor: s.factor ?? 8,
      lowFreqFactor: s.low_freq_factor ?? 1,
      highFreqFactor: s.high_freq_factor ?? 4,
      originalMaxPositionEmbeddings: s.original_max_position_embeddings ?? 8192,
    });
  }
  return E.left({ _tag: "ConfigError", message: `llama config.rope_scaling: rope_type '${type}' is not supported (default, linear, llama3)` });
};

/**
 * Decode a Llama / Mistral / Qwen2 `config.json` object.
 *
 * @example
 *   decodeLlamaConfig({ model_type: "llama", hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 })
 *   // Right({ headDim: 16, numKeyValueHeads: 2, ... })
 */
export const decodeLlamaConfig = (json: unknown): E.Either<ConfigError, LlamaConfig> =>
  pipe(
    decodeWith(LlamaConfigJson, json, "llama config"),
    E.chainFirst((c) => checkOneOf("llama config.model_type", llamaFamily, c.model_type ?? "llama")),
    E.chainFirst((c) => checkOneOf("llama config.hidden_act", activationNames, c.hidden_act ?? "silu")),
    E.bindTo("c"),
    E.bind("rope", ({ c }) => ropeOf(c)),
    E.map(({ c, rope }): LlamaConfig => {
      const type = (c.model_type ?? "llama") as LlamaFamily;
      const d = defaults[type];
      const hidden = c.hidden_size ?? 4096;
      const heads = c.num_attention_heads ?? 32;
      const layers = c.num_hidden_layers ?? 32;
      const window = c.sliding_window ?? undefined;
      const windowFrom =
        type === "mistral" ? 0 : type === "qwen2" && c.use_sliding_window === true ? (c.max_window_layers ?? 28) : layers;
      return {
        modelType: type,
        vocabSize: c.vocab_size ?? d.vocab,
        hiddenSize: hidden,
        intermediateSize: c.intermediate_size ?? d.inter,
        numHiddenLayers: layers,
        numAttentionHeads: heads,
        numKeyValueHeads: c.num_key_value_heads ?? d.kv ?? heads,
        headDim: c.head_dim ?? hidden / heads,
        hiddenAct: (c.hidden_act ?? "silu") as ActivationName,
        maxPositionEmbeddings: c.max_position_embeddings ?? d.maxPos,
        initializerRange: c.initializer_range ?? 0.02,
        rmsNormEps: c.rms_norm_eps ?? 1e-6,
        ropeTheta: c.rope_theta ?? c.rope_parameters?.rope_theta ?? 10000,
        ropeScaling: rope,
        qkvBias: type === "qwen2" || (type === "llama" && c.attention_bias === true),
        oBias: type === "llama" && c.attention_bias === true,
        mlpBias: type === "llama" && c.mlp_bias === true,
        attentionDropout: c.attention_dropout ?? 0,
        slidingWindows: Array.from({ length: layers }, (_, i) => (window !== undefined && i >= windowFrom ? window : undefined)),
        tieWordEmbeddings: c.tie_word_embeddings ?? false,
        numLabels: numLabelsOf(c),
        padTokenId: firstId(c.pad_token_id),
        raw: { model_type: type, ...(json as Record<string, unknown>) },
      };
    }),
    E.chainFirst((c) =>
      check(
        c.numAttentionHeads % c.numKeyValueHeads === 0,
        `llama config: num_attention_heads (${c.numAttentionHeads}) is not a multiple of num_key_value_heads (${c.numKeyValueHeads})`,
      ),
    ),
    E.chainFirst((c) => check(c.headDim % 2 === 0, `llama config: head_dim (${c.headDim}) must be even for RoPE`)),
  );
