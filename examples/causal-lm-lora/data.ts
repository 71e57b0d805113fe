/**
 * The example's data: the two corpora, a character-level tokenizer written as
 * a Hugging Face `tokenizer.json` (a BPE model with no merges: every character
 * is a token), a held-out split, and batches of random windows.
 */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { rng } from "../../src/index.js";

/** End of text (also the tokenizer's bos, pad and unk: the corpora never need them). */
export const EOS = "<|endoftext|>";

/** A corpus shipped next to this file. */
export const readCorpus = (name: "a" | "b"): string => readFileSync(new URL(`./corpus-${name}.txt`, import.meta.url), "utf8");

/**
 * A character-level `tokenizer.json` over the characters of `texts` (sorted,
 * after the special token, id 0). Loads in `tokenizers` / transformers'
 * `PreTrainedTokenizerFast` as well as here.
 *
 * @example
 *   const tok = tokenizerFromJson(charTokenizerJson(["abc"]), tokenizerConfigJson())
 *   tok.encode("cab") // [3, 1, 2]
 */
export const charTokenizerJson = (texts: ReadonlyArray<string>): Record<string, unknown> => {
  const chars = [...new Set(texts.join(""))].sort();
  const vocab = Object.fromEntries([EOS, ...chars].map((t, i) => [t, i]));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: EOS, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    // Fuse: decode by concatenating the characters (no spaces between tokens).
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: EOS,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
};

/** The `tokenizer_config.json` that names the special tokens. */
export const tokenizerConfigJson = (maxLength: number): Record<string, unknown> => ({
  tokenizer_class: "PreTrainedTokenizerFast",
  bos_token: EOS,
  eos_token: EOS,
  unk_token: EOS,
  model_max_length: maxLength,
});

/**
 * Split a text into training and held-out parts: the held-out part is the
 * last `fraction` of it, starting at a line break.
 */
export const splitHeldOut = (text: string, fraction: number): { readonly train: string; readonly heldOut: string } => {
  const cut = text.lastIndexOf("\n", Math.floor(text.length * (1 - fraction)));
  return { train: text.slice(0, cut + 1), heldOut: text.slice(cut + 1) };
};

/**
 * Endless batches [batch, len] of random windows of `ids`, from a seeded
 * generator. Each batch is freed when the consumer asks for the next one.
 */
export function* randomWindows(ids: ReadonlyArray<number>, len: number, batch: number, seed: number): Generator<tf.Tensor2D> {
  const rand = rng(seed);
  for (;;) {
    const rows = new Int32Array(batch * len);
    for (let b = 0; b < batch; b++) {
      const start = Math.floor(rand() * (ids.length - len + 1));
      for (let i = 0; i < len; i++) rows[b * len + i] = ids[start + i] as number;
    }
    const x = tf.tensor2d(rows, [batch, len], "int32");
    try {
      yield x;
    } finally {
      x.dispose();
    }
  }
}

/**
 * Held-out windows [n, len] that overlap by one token, so that with the
 * label shift every token but the first is predicted exactly once (a
 * trailing part shorter than a window is dropped).
 */
export const evalWindows = (ids: ReadonlyArray<number>, len: number): tf.Tensor2D => {
  const rows: number[][] = [];
  for (let s = 0; s + len <= ids.length; s += len - 1) rows.push(ids.slice(s, s + len) as number[]);
  if (rows.length === 0) throw new RangeError(`evalWindows: ${ids.length} tokens make no window of ${len}`);
  return tf.tensor2d(rows, [rows.length, len], "int32");
};
