/** GPT-2's `config.json`: codec, defaults as transformers' `GPT2Config`. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { activationNames, type ActivationName } from "../../nn/activation.js";
import { check, checkOneOf, decodeWith, firstId, numLabelsOf, OptNumber, TaskFields, type ConfigError } from "../common/config.js";

/**
 * The fields of GPT-2's config.json this library reads (all optional on disk).
 *
 * @example
 *   Gpt2ConfigJson.is({ n_embd: 768 }) // true
 */
export const Gpt2ConfigJson = t.intersection([
  TaskFields,
  t.partial({
    model_type: t.string,
    vocab_size: t.number,
    n_positions: t.number,
    n_embd: t.number,
    n_layer: t.number,
    n_head: t.number,
    n_inner: OptNumber,
    activation_function: t.string,
    resid_pdrop: t.number,
    embd_pdrop: t.number,
    attn_pdrop: t.number,
    layer_norm_epsilon: t.number,
    initializer_range: t.number,
    scale_attn_weights: t.boolean,
    scale_attn_by_inverse_layer_idx: t.boolean,
  }),
]);
export type Gpt2ConfigJson = t.TypeOf<typeof Gpt2ConfigJson>;

/** A decoded GPT-2 config with every default filled in. */
export interface Gpt2Config {
  readonly vocabSize: number;
  readonly nPositions: number;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nInner: number;
  readonly activationFunction: ActivationName;
  readonly residPdrop: number;
  readonly embdPdrop: number;
  readonly attnPdrop: number;
  readonly layerNormEpsilon: number;
  readonly initializerRange: number;
  readonly scaleAttnWeights: boolean;
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly numLabels: number;
  readonly padTokenId: number | undefined;
  /** The config.json object as given (unknown fields kept for saving). */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Decode a GPT-2 `config.json` object.
 *
 * @example
 *   decodeGpt2Config({ n_embd: 32, n_layer: 2, n_head: 4, vocab_size: 50, n_positions: 16 })
 *   // Right({ nEmbd: 32, nInner: 128, activationFunction: "gelu_new", ... })
 */
export const decodeGpt2Config = (json: unknown): E.Either<ConfigError, Gpt2Config> =>
  pipe(
    decodeWith(Gpt2ConfigJson, json, "gpt2 config"),
    E.chainFirst((c) => check(c.model_type === undefined || c.model_type === "gpt2", `gpt2 config: model_type is '${c.model_type}', not 'gpt2'`)),
    E.chainFirst((c) => checkOneOf("gpt2 config.activation_function", activationNames, c.activation_function ?? "gelu_new")),
    E.map(
      (c): Gpt2Config => ({
        vocabSize: c.vocab_size ?? 50257,
        nPositions: c.n_positions ?? 1024,
        nEmbd: c.n_embd ?? 768,
        nLayer: c.n_layer ?? 12,
        nHead: c.n_head ?? 12,
        nInner: c.n_inner ?? 4 * (c.n_embd ?? 768),
        activationFunction: (c.activation_function ?? "gelu_new") as ActivationName,
        residPdrop: c.resid_pdrop ?? 0.1,
        embdPdrop: c.embd_pdrop ?? 0.1,
        attnPdrop: c.attn_pdrop ?? 0.1,
        layerNormEpsilon: c.layer_norm_epsilon ?? 1e-5,
        initializerRange: c.initializer_range ?? 0.02,
        scaleAttnWeights: c.scale_attn_weights ?? true,
        scaleAttnByInverseLayerIdx: c.scale_attn_by_inverse_layer_idx ?? false,
        tieWordEmbeddings: c.tie_word_embeddings ?? true,
        numLabels: numLabelsOf(c),
        padTokenId: firstId(c.pad_token_id),
        raw: { model_type: "gpt2", ...(json as Record<string, unknown>) },
      }),
    ),
    E.chainFirst((c) => check(c.nEmbd % c.nHead === 0, `gpt2 config: n_embd (${c.nEmbd}) is not divisible by n_head (${c.nHead})`)),
  );
