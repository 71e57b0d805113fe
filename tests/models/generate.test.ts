/**
 * Generation: the KV cache changes nothing (same logits, same tokens, for
 * GPT-2 and LLaMA, left-padded batches included), stop tokens end rows,
 * sampling is reproducible by seed, and nothing leaks.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { buildFromConfig } from "../../src/models/index.js";
import { argmax, causalLmStep, disposeCache, emptyCache, eosTokenIds, generate, rng, samplingProbs } from "../../src/models/generate.js";
import { forward } from "../../src/nn/registry.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { inject, mergeAndUnload } from "../../src/peft/index.js";
import { lora, loraConfig } from "../../src/tuners/index.js";
import { ctxOf, maxAbsDiff, unwrap } from "./helpers.js";
import { tinyGpt2Config, tinyLlamaConfig } from "./fixtures.js";

const models = [
  ["gpt2", { ...tinyGpt2Config, initializer_range: 0.3 }],
  ["llama", { ...tinyLlamaConfig, initializer_range: 0.3 }],
] as const;

const prompt = (): { ids: tf.Tensor; mask: tf.Tensor } => ({
  ids: tf.tensor2d([[7, 12, 9, 31, 4], [0, 0, 22, 5, 17]], [2, 5], "int32"),
  mask: tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [2, 5], "int32"),
});

describe.each(models)("%s", (_name, config) => {
  it("a prompt run in two chunks through the cache gives the logits of one full forward", () => {
    const model = unwrap(buildFromConfig(config, { seed: 11 }));
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d([[7, 12, 9, 31, 4, 8], [3, 5, 22, 5, 17, 6]], [2, 6], "int32");
    const full = tf.tidy(() => forward(model, ids, ctxOf()));
    const head = tf.slice(ids, [0, 0], [2, 4]);
    const first = causalLmStep(model, head, emptyCache);
    expect(first.cache.length).toBe(4);
    const tail = tf.slice(ids, [0, 4], [2, 2]);
    const second = causalLmStep(model, tail, first.cache);
    expect(second.cache.length).toBe(6);
    const fullTail = tf.slice(full, [0, 4, 0], [2, 2, full.shape[2] as number]);
    expect(maxAbsDiff(second.logits, fullTail)).toBeLessThan(1e-5);
    tf.dispose([ids, full, head, tail, fullTail, first.logits, second.logits]);
    disposeCache(first.cache);
    disposeCache(second.cache);
    expect(tf.memory().numTensors).toBe(before);
    disposeTree(model);
  });

  it("greedy generation with the cache equals generation without it, token for token (left padding)", () => {
    const model = unwrap(buildFromConfig(config, { seed: 12 }));
    const { ids, mask } = prompt();
    const before = tf.memory().numTensors;
    const withCache = generate(model, ids, { attentionMask: mask, maxNewTokens: 8 });
    const without = generate(model, ids, { attentionMask: mask, maxNewTokens: 8, useCache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(withCache.tokens).toEqual(without.tokens);
    expect(withCache.tokens.every((t) => t.length === 8)).toBe(true);
    expect(withCache.sequences[1]?.slice(0, 5)).toEqual([0, 0, 22, 5, 17]);
    tf.dispose([ids, mask]);
    disposeTree(model);
  });

  it("a left-padded row generates what it generates alone", () => {
    const model = unwrap(buildFromConfig(config, { seed: 13 }));
    const { ids, mask } = prompt();
    const alone = tf.tensor2d([[22, 5, 17]], [1, 3], "int32");
    const batch = generate(model, ids, { attentionMask: mask, maxNewTokens: 6 });
    const single = generate(model, alone, { maxNewTokens: 6 });
    expect(batch.tokens[1]).toEqual(single.tokens[0]);
    tf.dispose([ids, mask, alone]);
    disposeTree(model);
  });

  it("stops a row at a stop token and pads it afterwards", () => {
    const model = unwrap(buildFromConfig(config, { seed: 14 }));
    const { ids, mask } = prompt();
    const free = generate(model, ids, { attentionMask: mask, maxNewTokens: 6 });
    const stop = free.tokens[0]?.[2] as number;
    const out = generate(model, ids, { attentionMask: mask, maxNewTokens: 6, stopTokens: [stop], padTokenId: 49 });
    const row0 = out.tokens[0] as ReadonlyArray<number>;
    expect(row0[row0.length - 1]).toBe(stop);
    expect(row0.length).toBeLessThanOrEqual(3);
    const seq0 = out.sequences[0] as ReadonlyArray<number>;
    expect(seq0.slice(5 + row0.length).every((t) => t === 49)).toBe(true);
    tf.dispose([ids, mask]);
    disposeTree(model);
  });

  it("sampling is reproducible by seed, and the cache does not change it", () => {
    const model = unwrap(buildFromConfig(config, { seed: 15 }));
    const { ids, mask } = prompt();
    const o = { attentionMask: mask, maxNewTokens: 6, doSample: true, temperature: 0.9, topK: 20, topP: 0.9, seed: 3 };
    const a = generate(model, ids, o);
    const b = generate(model, ids, o);
    const c = generate(model, ids, { ...o, useCache: false });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).toEqual(c.tokens);
    tf.dispose([ids, mask]);
    disposeTree(model);
  });
});

describe("adapters and generation", () => {
  it("an adapter-active LLaMA generates the same tokens as its merged model", () => {
    const model = unwrap(buildFromConfig({ ...tinyLlamaConfig, initializer_range: 0.3 }, { seed: 16 }));
    const adapted = inject(model, lora, loraConfig({ r: 4, loraAlpha: 16, targetModules: ["q_proj", "v_proj", "down_proj"], initLoraWeights: false }));
    const merged = unwrap(mergeAndUnload(adapted));
    const { ids, mask } = prompt();
    const a = generate(adapted, ids, { attentionMask: mask, maxNewTokens: 8 });
    const m = generate(merged, ids, { attentionMask: mask, maxNewTokens: 8 });
    const base = generate(model, ids, { attentionMask: mask, maxNewTokens: 8 });
    expect(a.tokens).toEqual(m.tokens);
    expect(a.tokens).not.toEqual(base.tokens);
    tf.dispose([ids, mask]);
    for (const t of [adapted, merged]) disposeTree(t);
  });
});

describe("sampling helpers", () => {
  it("filters by top-k and top-p and renormalises", () => {
    const p = samplingProbs([2, 1, 0, -1], { topK: 3 });
    expect(p[3]).toBe(0);
    expect(p.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    const q = samplingProbs([5, 1, 0, -1], { topP: 0.5 });
    expect(Array.from(q)).toEqual([1, 0, 0, 0]);
    expect(argmax([1, 3, 3])).toBe(1);
    const m = unwrap(buildFromConfig({ ...tinyLlamaConfig, eos_token_id: [1, 5] }, { seed: 0 }));
    expect(eosTokenIds(m)).toEqual([1, 5]);
    disposeTree(m);
    const r1 = rng(42);
    const r2 = rng(42);
    expect([r1(), r1()]).toEqual([r2(), r2()]);
    expect(() => samplingProbs([1, 2], { temperature: 0 })).toThrow(/temperature/);
  });
});
