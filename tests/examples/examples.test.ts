/**
 * The examples, run short: what they claim must hold even after a few
 * steps — adapter training leaves every base tensor as it was, the adapter
 * reloaded from PEFT's files gives the very same logits, the adapted loss
 * falls, and nothing leaks.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { tokenizerFromJson } from "../../src/index.js";
import { run as runLm } from "../../examples/causal-lm-lora/main.js";
import { charTokenizerJson, evalWindows, splitHeldOut, tokenizerConfigJson } from "../../examples/causal-lm-lora/data.js";
import { run as runBert } from "../../examples/bert-seq-cls/main.js";
import { sentences, wordPieceJson, tokenizerConfigJson as bertTokenizerConfig } from "../../examples/bert-seq-cls/data.js";

const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("examples/causal-lm-lora", () => {
  it("the character tokenizer round-trips text and the held-out windows predict every token once", () => {
    const text = "12 MAR. 0400. Wind NNE 5.\nThe town sat at the bend.\n";
    const tok = tokenizerFromJson(charTokenizerJson([text]), tokenizerConfigJson(64));
    const ids = tok.encode(text);
    expect(ids.length).toBe(text.length);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.eosTokenId).toBe(0);
    const { train, heldOut } = splitHeldOut(text, 0.5);
    expect(train + heldOut).toBe(text);
    expect(train.endsWith("\n")).toBe(true);
    const w = evalWindows(Array.from({ length: 20 }, (_, i) => i), 8);
    expect(w.arraySync()).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [7, 8, 9, 10, 11, 12, 13, 14],
    ]);
    w.dispose();
  });

  it("a short run: held-out B perplexity falls, the base is untouched, the reload is exact, no leak", async () => {
    const before = tf.memory().numTensors;
    const r = await runLm({ pretrainSteps: 30, loraSteps: 12, evalEvery: 4, sampleChars: 16, quiet: true });
    // the base model learned A better than B (it never saw B)
    expect(r.pplA).toBeLessThan(r.pplBBefore);
    // adapter training on B: perplexity falls at every evaluation, and the loss over the steps
    const curve = [r.pplBBefore, ...r.pplBDuring.map(([, v]) => v), r.pplBAfter];
    expect(curve.length).toBe(4);
    for (let i = 1; i < curve.length; i++) expect(curve[i]).toBeLessThan(curve[i - 1] as number);
    expect(mean(r.loraLosses.slice(-3))).toBeLessThan(mean(r.loraLosses.slice(0, 3)));
    // only the adapter moved: every base tensor is the same object with the same bytes
    expect(r.baseUntouched).toBe(true);
    expect(r.pplADisabled).toBe(r.pplA);
    // saved as an HF model folder + a PEFT adapter, loaded back: identical logits
    expect(r.savedFiles).toEqual([
      "adapter/adapter_config.json",
      "adapter/adapter_model.safetensors",
      "base/config.json",
      "base/model.safetensors",
      "base/tokenizer.json",
      "base/tokenizer_config.json",
    ]);
    expect(r.reloadMaxDiff).toBe(0);
    expect(r.sampleAfter.startsWith("21 MAR. 0800. Wind")).toBe(true);
    expect(r.sampleAfter.length).toBe("21 MAR. 0800. Wind".length + 16);
    expect(r.leaked).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("examples/bert-seq-cls", () => {
  it("the word-level WordPiece tokenizer covers every generated sentence", () => {
    const tok = tokenizerFromJson(wordPieceJson(), bertTokenizerConfig);
    const unk = tok.tokenToId("[UNK]");
    for (const s of sentences(200, 9)) {
      const ids = tok.encode(s.text);
      expect(ids[0]).toBe(tok.tokenToId("[CLS]"));
      expect(ids[ids.length - 1]).toBe(tok.tokenToId("[SEP]"));
      expect(ids).not.toContain(unk);
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(s.text.replace(/ ([.,])/g, "$1"));
    }
  });

  it("a short run: PEFT's SEQ_CLS semantics, accuracy rises, the base is untouched, the reload is exact, no leak", async () => {
    const before = tf.memory().numTensors;
    const r = await runBert({ pretrainSteps: 200, steps: 150, trainSize: 1000, testSize: 200, quiet: true });
    // loading the pretrained BertModel as a classifier makes only the head fresh
    expect(r.initialized).toEqual(["classifier.weight", "classifier.bias"]);
    // target_modules null → bert's default; the classifier goes to modules_to_save
    expect(r.targetModules).toEqual(["query", "value"]);
    expect(r.modulesToSave).toContain("classifier");
    expect(r.loraModules).toEqual([0, 1].flatMap((i) => ["query", "value"].map((m) => `bert.encoder.layer.${i}.attention.self.${m}`)));
    // trainable: LoRA A and B of 4 layers (r=8, d=64) and the classifier copy (64·2 + 2)
    expect(r.trainable).toBe(4 * 2 * 8 * 64 + 64 * 2 + 2);
    expect(r.accuracyBefore).toBeLessThan(0.65);
    expect(r.accuracyAfter).toBeGreaterThan(0.85);
    expect(mean(r.losses.slice(-10))).toBeLessThan(mean(r.losses.slice(0, 10)));
    expect(r.baseUntouched).toBe(true);
    expect(r.savedKeys).toContain("base_model.model.classifier.weight");
    expect(r.savedKeys).toContain("base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight");
    expect(r.savedKeys.length).toBe(10);
    expect(r.reloadMaxDiff).toBe(0);
    expect(r.leaked).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
