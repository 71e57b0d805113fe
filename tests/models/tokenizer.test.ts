/**
 * Tokenizers from a local folder: a tiny byte-level BPE (GPT-2 style) and a
 * tiny WordPiece with [CLS]/[SEP] (BERT style), written by the test; padded
 * batches for generation (left) and encoders (right).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { encodeBatch, padBatch } from "../../src/models/index.js";
import { loadTokenizer } from "../../src/models/hub/index.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "peft-ts-tok-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

const bpeVocab = ["<|endoftext|>", "h", "e", "l", "o", "w", "r", "d", "Ġ", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworl", "Ġworld"];
const bpeJson = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [special(0, "<|endoftext|>")],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab: Object.fromEntries(bpeVocab.map((t, i) => [t, i])),
    merges: ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"],
  },
};

const wpVocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "##s", "on", "mat"];
const wpJson = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
  normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: "BertPreTokenizer" },
  post_processor: {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
    pair: [],
    special_tokens: { "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] } },
  },
  decoder: { type: "WordPiece", prefix: "##", cleanup: true },
  model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: Object.fromEntries(wpVocab.map((t, i) => [t, i])) },
};

const writeFolder = (name: string, tokenizer: unknown, config?: unknown): string => {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  if (config !== undefined) fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config));
  return dir;
};

describe("tokenizers from tokenizer.json", () => {
  it("byte-level BPE: merges, special tokens, decode", async () => {
    const tok = await loadTokenizer(writeFolder("bpe", bpeJson, { eos_token: "<|endoftext|>", bos_token: "<|endoftext|>" }));
    expect(tok.eosTokenId).toBe(0);
    expect(tok.padTokenId).toBeUndefined();
    const ids = tok.encode("hello world");
    expect(ids).toEqual([12, 17]);
    expect(tok.decode(ids)).toBe("hello world");
    expect(tok.encode("hello<|endoftext|>")).toEqual([12, 0]);
    expect(tok.decode([12, 0], { skipSpecialTokens: true })).toBe("hello");
    expect(tok.encode("hell")).toEqual([11]);
  });

  it("WordPiece with a [CLS] … [SEP] template, lowercasing and unknown words", async () => {
    const tok = await loadTokenizer(writeFolder("wordpiece", wpJson, { pad_token: "[PAD]" }));
    expect(tok.padTokenId).toBe(0);
    expect(tok.encode("The cats sat on the mat")).toEqual([2, 4, 5, 7, 6, 8, 4, 9, 3]);
    expect(tok.encode("the dog", { addSpecialTokens: false })).toEqual([4, 1]);
    expect(tok.decode(tok.encode("the cats sat"), { skipSpecialTokens: true })).toBe("the cats sat");
  });

  it("pads batches left (generation) or right (encoders) with a mask", async () => {
    const tok = await loadTokenizer(writeFolder("wordpiece2", wpJson, { pad_token: "[PAD]" }));
    const before = tf.memory().numTensors;
    const right = encodeBatch(tok, ["the cat sat", "mat"]);
    expect(right.inputIds.arraySync()).toEqual([[2, 4, 5, 6, 3], [2, 9, 3, 0, 0]]);
    expect(right.attentionMask.arraySync()).toEqual([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]);
    const left = padBatch([[5, 6, 7], [8]], { paddingSide: "left", padTokenId: 0, maxLength: 2 });
    expect(left.inputIds.arraySync()).toEqual([[5, 6], [0, 8]]);
    expect(left.attentionMask.arraySync()).toEqual([[1, 1], [0, 1]]);
    tf.dispose([right.inputIds, right.attentionMask, left.inputIds, left.attentionMask]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("names the file when a folder has no tokenizer.json", async () => {
    await expect(loadTokenizer(path.join(tmp, "nowhere"))).rejects.toThrow(/nowhere\/tokenizer\.json: cannot read/);
  });
});
