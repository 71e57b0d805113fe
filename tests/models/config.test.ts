/** Config codecs: HF defaults filled in, bad fields reported as data with their path. */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { architectureOf, buildFromConfig, decodeBertConfig, decodeGpt2Config, decodeLlamaConfig, taskOfConfig } from "../../src/models/index.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { unwrap } from "./helpers.js";

const leftMessage = <A>(e: E.Either<{ readonly message: string }, A>): string => (E.isLeft(e) ? e.left.message : "Right");

describe("config codecs", () => {
  it("fills GPT-2 defaults as transformers does", () => {
    const c = unwrap(decodeGpt2Config({ n_embd: 32, n_head: 4 }));
    expect(c).toMatchObject({ nInner: 128, nLayer: 12, vocabSize: 50257, activationFunction: "gelu_new", tieWordEmbeddings: true, layerNormEpsilon: 1e-5 });
  });

  it("fills each LLaMA-family type's defaults", () => {
    expect(unwrap(decodeLlamaConfig({ model_type: "mistral" }))).toMatchObject({ numKeyValueHeads: 8, intermediateSize: 14336, qkvBias: false });
    expect(unwrap(decodeLlamaConfig({ model_type: "qwen2", hidden_size: 64, num_attention_heads: 4 }))).toMatchObject({ qkvBias: true, oBias: false, headDim: 16, vocabSize: 151936 });
    expect(unwrap(decodeLlamaConfig({ model_type: "llama", attention_bias: true }))).toMatchObject({ qkvBias: true, oBias: true, tieWordEmbeddings: false });
    const l3 = unwrap(decodeLlamaConfig({ rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }));
    expect(l3.ropeScaling).toEqual({ _tag: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  });

  it("fills BERT and RoBERTa defaults", () => {
    expect(unwrap(decodeBertConfig({}))).toMatchObject({ vocabSize: 30522, padTokenId: 0, layerNormEps: 1e-12, hiddenAct: "gelu", numLabels: 2 });
    expect(unwrap(decodeBertConfig({ model_type: "roberta", id2label: { 0: "a", 1: "b", 2: "c" } }))).toMatchObject({ padTokenId: 1, numLabels: 3 });
  });

  it("reports bad fields with their path and what was expected", () => {
    expect(leftMessage(decodeGpt2Config({ n_embd: "big", n_layer: null }))).toMatch(/gpt2 config\.n_embd: expected number, got "big"/);
    expect(leftMessage(decodeGpt2Config({ n_embd: 30, n_head: 4 }))).toMatch(/not divisible/);
    expect(leftMessage(decodeGpt2Config({ activation_function: "swish2" }))).toMatch(/activation_function: expected one of/);
    expect(leftMessage(decodeLlamaConfig({ num_attention_heads: 6, num_key_value_heads: 4 }))).toMatch(/not a multiple/);
    expect(leftMessage(decodeLlamaConfig({ rope_scaling: { rope_type: "yarn", factor: 4 } }))).toMatch(/rope_type 'yarn' is not supported/);
    expect(leftMessage(decodeBertConfig({ position_embedding_type: "relative_key" }))).toMatch(/only 'absolute'/);
  });

  it("dispatches on model_type and reads the task from architectures", () => {
    expect(leftMessage(architectureOf({ model_type: "t5" }))).toMatch(/'t5' is not supported \(supported: gpt2, llama, mistral, qwen2, bert, roberta\)/);
    expect(leftMessage(architectureOf({}))).toMatch(/no 'model_type'/);
    expect(taskOfConfig({ model_type: "bert", architectures: ["BertForTokenClassification"] })).toBe("TOKEN_CLS");
    expect(taskOfConfig({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"] })).toBe("CAUSAL_LM");
    expect(taskOfConfig({ model_type: "bert", architectures: ["BertForMaskedLM"] })).toBe("FEATURE_EXTRACTION");
    expect(taskOfConfig({ model_type: "llama" })).toBe("CAUSAL_LM");
  });

  it("refuses a task the architecture has no head for", () => {
    expect(() => buildFromConfig({ model_type: "bert", hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 8, vocab_size: 10 }, { task: "CAUSAL_LM" })).toThrow(
      /model_type 'bert' has no CAUSAL_LM head here \(supported: SEQ_CLS, TOKEN_CLS, FEATURE_EXTRACTION\)/,
    );
    const m = unwrap(buildFromConfig({ model_type: "gpt2", n_embd: 8, n_head: 2, n_layer: 1, vocab_size: 10, n_positions: 8 }, { task: "TOKEN_CLS" }));
    expect(Object.keys(m.children)).toEqual(["transformer", "classifier"]);
    disposeTree(m);
  });
});
