/**
 * Tokenizers from a Hugging Face `tokenizer.json` (BPE, WordPiece, Unigram;
 * normalizers, pre-tokenizers, post-processors and decoders as the Rust
 * library runs them) via `@huggingface/tokenizers`, plus batching into
 * padded id / mask tensors. Browser-safe: give it the parsed JSON; the
 * folder reader is `loadTokenizer` in `./hub/tokenizer.js`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { Tokenizer } from "@huggingface/tokenizers";

/** A tokenizer and its special token ids. */
export interface TextTokenizer {
  /** The underlying `@huggingface/tokenizers` object (for anything not wrapped here). */
  readonly tokenizer: Tokenizer;
  readonly padTokenId: number | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  /** Token ids of a text (with the post-processor's special tokens unless `addSpecialTokens: false`). */
  readonly encode: (text: string, o?: { readonly addSpecialTokens?: boolean }) => ReadonlyArray<number>;
  /** Text of token ids (special tokens dropped when `skipSpecialTokens`). */
  readonly decode: (ids: ReadonlyArray<number>, o?: { readonly skipSpecialTokens?: boolean }) => string;
  /** The id of a token string, if in the vocabulary. */
  readonly tokenToId: (token: string) => number | undefined;
}

const tokenName = (v: unknown): string | undefined =>
  typeof v === "string" ? v : typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : undefined;

/**
 * A tokenizer from a parsed `tokenizer.json` and (optionally) `tokenizer_config.json`,
 * whose `pad_token` / `bos_token` / `eos_token` name the special tokens.
 *
 * @example
 *   const tok = tokenizerFromJson(JSON.parse(tokenizerJsonText), { eos_token: "<|endoftext|>" })
 *   tok.encode("hello world")   // [31, 5, 12]
 *   tok.decode([31, 5, 12])     // "hello world"
 */
export const tokenizerFromJson = (tokenizerJson: unknown, config: Readonly<Record<string, unknown>> = {}): TextTokenizer => {
  const tokenizer = new Tokenizer(tokenizerJson as object, config);
  const idOf = (field: string): number | undefined => {
    const name = tokenName(config[field]);
    return name === undefined ? undefined : tokenizer.token_to_id(name);
  };
  return {
    tokenizer,
    padTokenId: idOf("pad_token"),
    bosTokenId: idOf("bos_token"),
    eosTokenId: idOf("eos_token"),
    encode: (text, o = {}) => tokenizer.encode(text, { add_special_tokens: o.addSpecialTokens ?? true }).ids,
    decode: (ids, o = {}) => tokenizer.decode([...ids], { skip_special_tokens: o.skipSpecialTokens ?? false }),
    tokenToId: (token) => tokenizer.token_to_id(token),
  };
};

/** Options of {@link padBatch} and {@link encodeBatch}. */
export interface PadOptions {
  /** `left` for generation with decoder models, `right` (default) otherwise. */
  readonly paddingSide?: "left" | "right";
  /** Id used for padding (default: the tokenizer's pad, else eos, else 0). Masked out either way. */
  readonly padTokenId?: number;
  /** Truncate longer sequences to this many tokens (keeping the start). */
  readonly maxLength?: number;
}

/**
 * Pad id lists to one length: int32 `inputIds` [B, T] and `attentionMask`
 * [B, T] (1 = token, 0 = padding). The caller owns both tensors.
 *
 * @example
 *   const { inputIds, attentionMask } = padBatch([[5, 6, 7], [8]], { paddingSide: "left", padTokenId: 0 })
 *   // inputIds [[5, 6, 7], [0, 0, 8]], attentionMask [[1, 1, 1], [0, 0, 1]]
 */
export const padBatch = (
  seqs: ReadonlyArray<ReadonlyArray<number>>,
  o: PadOptions = {},
): { readonly inputIds: tf.Tensor2D; readonly attentionMask: tf.Tensor2D } => {
  const cut = seqs.map((s) => (o.maxLength === undefined ? s : s.slice(0, o.maxLength)));
  const len = Math.max(1, ...cut.map((s) => s.length));
  const pad = o.padTokenId ?? 0;
  const ids = new Int32Array(cut.length * len).fill(pad);
  const mask = new Int32Array(cut.length * len);
  cut.forEach((s, b) => {
    const start = o.paddingSide === "left" ? len - s.length : 0;
    s.forEach((id, i) => {
      ids[b * len + start + i] = id;
      mask[b * len + start + i] = 1;
    });
  });
  return { inputIds: tf.tensor2d(ids, [cut.length, len], "int32"), attentionMask: tf.tensor2d(mask, [cut.length, len], "int32") };
};

/**
 * Tokenize texts into padded tensors.
 *
 * @example
 *   const { inputIds, attentionMask } = encodeBatch(tok, ["hello world", "hi"], { paddingSide: "left" })
 */
export const encodeBatch = (
  tok: TextTokenizer,
  texts: ReadonlyArray<string>,
  o: PadOptions & { readonly addSpecialTokens?: boolean } = {},
): { readonly inputIds: tf.Tensor2D; readonly attentionMask: tf.Tensor2D } =>
  padBatch(
    texts.map((t) => tok.encode(t, { addSpecialTokens: o.addSpecialTokens ?? true })),
    { ...o, padTokenId: o.padTokenId ?? tok.padTokenId ?? tok.eosTokenId ?? 0 },
  );
