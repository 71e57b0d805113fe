/** BERT's and RoBERTa's `config.json`: one codec, defaults as transformers' `BertConfig`/`RobertaConfig`. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { activationNames, type ActivationName } from "../../nn/activation.js";
import { check, checkOneOf, decodeWith, firstId, numLabelsOf, TaskFields, type ConfigError } from "../common/config.js";

/**
 * `model_type`s decoded here.
 *
 * @example
 *   bertFamily.includes("roberta") // true
 */
export const bertFamily = ["bert", "roberta"] as const;
export type BertFamily = (typeof bertFamily)[number];

/**
 * The fields of a BERT/RoBERTa config.json read here (all optional on disk).
 *
 * @example
 *   BertConfigJson.is({ hidden_size: 768 }) // true
 */
export const BertConfigJson = t.intersection([
  TaskFields,
  t.partial({
    model_type: t.string,
    vocab_size: t.number,
    hidden_size: t.number,
    num_hidden_layers: t.number,
    num_attention_heads: t.number,
    intermediate_size: t.number,
    hidden_act: t.string,
    hidden_dropout_prob: t.number,
    attention_probs_dropout_prob: t.number,
    max_position_embeddings: t.number,
    type_vocab_size: t.number,
    initializer_range: t.number,
    layer_norm_eps: t.number,
    position_embedding_type: t.string,
  }),
]);
export type BertConfigJson = t.TypeOf<typeof BertConfigJson>;

/** A decoded BERT/RoBERTa config, defaults filled in. */
export interface BertConfig {
  readonly modelType: BertFamily;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: ActivationName;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly maxPositionEmbeddings: number;
  readonly typeVocabSize: number;
  readonly initializerRange: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  readonly classifierDropout: number | undefined;
  readonly numLabels: number;
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Decode a BERT or RoBERTa `config.json` object.
 *
 * @example
 *   decodeBertConfig({ model_type: "roberta", hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4 })
 *   // Right({ modelType: "roberta", padTokenId: 1, ... })
 */
export const decodeBertConfig = (json: unknown): E.Either<ConfigError, BertConfig> =>
  pipe(
    decodeWith(BertConfigJson, json, "bert config"),
    E.chainFirst((c) => checkOneOf("bert config.model_type", bertFamily, c.model_type ?? "bert")),
    E.chainFirst((c) => checkOneOf("bert config.hidden_act", activationNames, c.hidden_act ?? "gelu")),
    E.chainFirst((c) =>
      check(
        (c.position_embedding_type ?? "absolute") === "absolute",
        `bert config.position_embedding_type: only 'absolute' is supported, got '${c.position_embedding_type}'`,
      ),
    ),
    E.map((c): BertConfig => {
      const type = (c.model_type ?? "bert") as BertFamily;
      const roberta = type === "roberta";
      return {
        modelType: type,
        vocabSize: c.vocab_size ?? (roberta ? 50265 : 30522),
        hiddenSize: c.hidden_size ?? 768,
        numHiddenLayers: c.num_hidden_layers ?? 12,
        numAttentionHeads: c.num_attention_heads ?? 12,
        intermediateSize: c.intermediate_size ?? 3072,
        hiddenAct: (c.hidden_act ?? "gelu") as ActivationName,
        hiddenDropoutProb: c.hidden_dropout_prob ?? 0.1,
        attentionProbsDropoutProb: c.attention_probs_dropout_prob ?? 0.1,
        maxPositionEmbeddings: c.max_position_embeddings ?? 512,
        typeVocabSize: c.type_vocab_size ?? 2,
        initializerRange: c.initializer_range ?? 0.02,
        layerNormEps: c.layer_norm_eps ?? 1e-12,
        padTokenId: firstId(c.pad_token_id) ?? (roberta ? 1 : 0),
        classifierDropout: c.classifier_dropout ?? undefined,
        numLabels: numLabelsOf(c),
        raw: { model_type: type, ...(json as Record<string, unknown>) },
      };
    }),
    E.chainFirst((c) =>
      check(
        c.hiddenSize % c.numAttentionHeads === 0,
        `bert config: hidden_size (${c.hiddenSize}) is not divisible by num_attention_heads (${c.numAttentionHeads})`,
      ),
    ),
  );
