/**
 * The example's data: short reviews labelled with their sentiment, a word-level WordPiece `tokenizer.json` over their words (HF's
 * BERT pipeline: lowercase, split on spaces and punctuation, [CLS] … [SEP]),
 * and padded batches.
 */
import * as tf from "@tensorflow/tfjs-core";
import { padBatch, rng, type TextTokenizer } from "../../src/index.js";

/** Subjects of two topics (a review keeps to one). */
const subjects = [
  ["the movie", "this book", "the concert", "the show", "that song", "the play"],
  ["the soup", "the hotel", "the service", "the staff", "our room", "the coffee"],
] as const;
const verbs = ["was", "is", "seemed", "felt", "looked"];
const adverbs = ["really", "very", "quite", "so", "rather"];
const positive = ["good", "great", "wonderful", "fun", "excellent", "lovely", "pleasant", "nice", "superb", "charming"];
const negative = ["bad", "awful", "terrible", "boring", "dull", "poor", "dreadful", "mediocre", "tiresome", "horrible"];
const openers = ["honestly ,", "i think", "to be fair ,", "sadly ,", "luckily ,"];
const closers = ["today .", "overall .", "this time .", "again .", "."];

const special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

/** One labelled sentence: 1 = positive, 0 = negative. */
export interface Example {
  readonly text: string;
  readonly label: number;
}

const pick = <A>(xs: ReadonlyArray<A>, r: () => number): A => xs[Math.floor(r() * xs.length)] as A;

/**
 * `n` labelled reviews from a seeded generator: one clause, or two joined
 * by "and" / "but", on one topic and with one sentiment ("the soup was
 * tasty and our room looked clean ."); label 1 = positive. Openers like
 * "sadly ," are noise.
 *
 * @example
 *   sentences(1, 0) // [{ text: "the movie is really awful .", label: 0 }]
 */
export const sentences = (n: number, seed: number): ReadonlyArray<Example> => {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const good = r() < 0.5;
    const topic = r() < 0.5 ? 1 : 0;
    const clause = (): string[] => [
      pick(subjects[topic] as ReadonlyArray<string>, r),
      pick(verbs, r),
      ...(r() < 0.4 ? [pick(adverbs, r)] : []),
      pick(good ? positive : negative, r),
    ];
    const opener = r() < 0.3 ? [pick(openers, r)] : [];
    const body = r() < 0.5 ? clause() : [...clause(), r() < 0.7 ? "and" : "but", ...clause()];
    return { text: [...opener, ...body, pick(closers, r)].join(" "), label: good ? 1 : 0 };
  });
};

/** Every word the generator uses. */
const words = (): ReadonlyArray<string> =>
  [...new Set([...subjects, verbs, adverbs, positive, negative, openers, closers, ["and", "but"]].flat().flatMap((p) => p.split(" ")))].sort();

/**
 * A BERT-style `tokenizer.json` whose WordPiece vocabulary is whole words.
 *
 * @example
 *   const tok = tokenizerFromJson(wordPieceJson(), tokenizerConfigJson)
 *   tok.encode("The soup was bad.") // [2, …, 3]: [CLS] the soup was bad . [SEP]
 */
export const wordPieceJson = (): Record<string, unknown> => {
  const vocab = [...special, ...words()];
  const token = (id: number) => ({ id, content: special[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: special.map((_, i) => token(i)),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: { "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
};

/** The `tokenizer_config.json` naming BERT's special tokens. */
export const tokenizerConfigJson: Readonly<Record<string, unknown>> = {
  tokenizer_class: "BertTokenizerFast",
  do_lower_case: true,
  pad_token: "[PAD]",
  unk_token: "[UNK]",
  cls_token: "[CLS]",
  sep_token: "[SEP]",
  mask_token: "[MASK]",
};

/** A batch: right-padded ids, their mask, int32 labels. The consumer owns the tensors. */
export interface Batch {
  readonly ids: tf.Tensor2D;
  readonly mask: tf.Tensor2D;
  readonly labels: tf.Tensor1D;
}

/** Tokenized examples (ids per sentence) with labels. */
export interface Encoded {
  readonly ids: ReadonlyArray<ReadonlyArray<number>>;
  readonly labels: ReadonlyArray<number>;
}

export const encode = (tok: TextTokenizer, xs: ReadonlyArray<Example>): Encoded => ({
  ids: xs.map((x) => tok.encode(x.text)),
  labels: xs.map((x) => x.label),
});

/** The examples `from..to` as one padded batch. */
export const batchOf = (e: Encoded, idx: ReadonlyArray<number>, padTokenId: number): Batch => {
  const { inputIds, attentionMask } = padBatch(
    idx.map((i) => e.ids[i] as ReadonlyArray<number>),
    { paddingSide: "right", padTokenId },
  );
  return { ids: inputIds, mask: attentionMask, labels: tf.tensor1d(idx.map((i) => e.labels[i] as number), "int32") };
};

/** A masked-LM batch: ids with some words replaced by [MASK], the original ids there and -100 elsewhere. */
export interface MaskedBatch {
  readonly ids: tf.Tensor2D;
  readonly mask: tf.Tensor2D;
  readonly labels: tf.Tensor2D;
}

/**
 * Endless masked-LM batches (BERT's pretraining input): in each sentence
 * `rate` of the words (at least one) become [MASK] and are the targets.
 */
export function* maskedBatches(e: Encoded, size: number, seed: number, o: { readonly pad: number; readonly maskId: number; readonly specials: ReadonlyArray<number>; readonly rate: number }): Generator<MaskedBatch> {
  const r = rng(seed);
  for (;;) {
    const rows = Array.from({ length: size }, () => e.ids[Math.floor(r() * e.ids.length)] as ReadonlyArray<number>);
    const masked: number[][] = [];
    const targets: number[][] = [];
    for (const row of rows) {
      const words = row.flatMap((id, i) => (o.specials.includes(id) ? [] : [i]));
      const chosen = new Set(words.filter(() => r() < o.rate));
      if (chosen.size === 0) chosen.add(words[Math.floor(r() * words.length)] as number);
      masked.push(row.map((id, i) => (chosen.has(i) ? o.maskId : id)));
      targets.push(row.map((id, i) => (chosen.has(i) ? id : -100)));
    }
    const { inputIds, attentionMask } = padBatch(masked, { paddingSide: "right", padTokenId: o.pad });
    const len = inputIds.shape[1];
    const labels = tf.tensor2d(targets.map((t) => [...t, ...Array<number>(len - t.length).fill(-100)]), [size, len], "int32");
    const b = { ids: inputIds, mask: attentionMask, labels };
    try {
      yield b;
    } finally {
      tf.dispose([b.ids, b.mask, b.labels]);
    }
  }
}

/** Endless shuffled batches from a seeded generator; each is freed when the next is asked for. */
export function* shuffledBatches(e: Encoded, size: number, seed: number, padTokenId: number): Generator<Batch> {
  const r = rng(seed);
  for (;;) {
    const b = batchOf(
      e,
      Array.from({ length: size }, () => Math.floor(r() * e.labels.length)),
      padTokenId,
    );
    try {
      yield b;
    } finally {
      tf.dispose([b.ids, b.mask, b.labels]);
    }
  }
}
