/**
 * What the architectures promise beyond matching numbers: causality, padding
 * invariance, `inputsEmbeds`, prefix key/values as a cache, task pooling,
 * tied heads through wrapped embeddings, default target modules, gradients.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import {
  buildFromConfig,
  causalLmLoss,
  defaultTargetModules,
  embeddingWeight,
  inputEmbeddings,
  rootMeta,
  sequenceClassificationLoss,
} from "../../src/models/index.js";
import { causalLmStep, disposeCache, emptyCache } from "../../src/models/generate.js";
import { forward } from "../../src/nn/registry.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { getAt, setAt } from "../../src/tree/optics.js";
import { node, type Node } from "../../src/tree/node.js";
import { inject } from "../../src/peft/index.js";
import { lora, loraConfig } from "../../src/tuners/index.js";
import { builtinKinds } from "../../src/apply.js";
import { ctxOf, maxAbsDiff, unwrap } from "./helpers.js";
import { tinyBertConfig, tinyGpt2Config, tinyLlamaConfig } from "./fixtures.js";

const run = (m: Node, ids: number[][], side: Record<string, unknown> = {}): tf.Tensor =>
  tf.tidy(() => forward(m, tf.tensor2d(ids, [ids.length, (ids[0] ?? []).length], "int32"), ctxOf(side)));

describe.each([
  ["gpt2", tinyGpt2Config],
  ["llama", tinyLlamaConfig],
] as const)("%s decoder", (_n, config) => {
  it("is causal: a later token does not change earlier logits", () => {
    const m = unwrap(buildFromConfig(config, { seed: 1 }));
    const before = tf.memory().numTensors;
    const a = run(m, [[5, 6, 7, 8]]);
    const b = run(m, [[5, 6, 7, 20]]);
    const first = (x: tf.Tensor): tf.Tensor => tf.slice(x, [0, 0, 0], [1, 3, x.shape[2] as number]);
    const [fa, fb] = [first(a), first(b)];
    expect(maxAbsDiff(fa, fb)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
    tf.dispose([a, b, fa, fb]);
    expect(tf.memory().numTensors).toBe(before);
    disposeTree(m);
  });

  it("gives the same logits from inputsEmbeds as from ids", () => {
    const m = unwrap(buildFromConfig(config, { seed: 2 }));
    const ids = [[5, 6, 7, 8]];
    const emb = tf.tidy(() => forward(inputEmbeddings(m), tf.tensor2d(ids, [1, 4], "int32"), ctxOf()));
    const a = run(m, ids);
    const b = run(m, [[0, 0, 0, 0]], { inputsEmbeds: emb });
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([emb, a, b]);
    disposeTree(m);
  });

  it("treats prefixKeyValues as earlier positions: forward(B | prefix = cache of A) = step(B, cache of A)", () => {
    const m = unwrap(buildFromConfig(config, { seed: 3 }));
    const a = tf.tensor2d([[5, 6, 7]], [1, 3], "int32");
    const b = tf.tensor2d([[9, 10]], [1, 2], "int32");
    const first = causalLmStep(m, a, emptyCache);
    const viaCache = causalLmStep(m, b, first.cache);
    const viaPrefix = tf.tidy(() => forward(m, b, ctxOf({ prefixKeyValues: first.cache.layers, attentionMask: tf.ones([1, 2], "int32") })));
    expect(maxAbsDiff(viaCache.logits, viaPrefix)).toBeLessThan(1e-6);
    tf.dispose([a, b, first.logits, viaCache.logits, viaPrefix]);
    disposeCache(first.cache);
    disposeCache(viaCache.cache);
    disposeTree(m);
  });

  it("classifies a sequence from its last non-padding token, wherever the padding is", () => {
    const m = unwrap(buildFromConfig({ ...config, pad_token_id: 0, num_labels: 3 }, { task: "SEQ_CLS", seed: 4 }));
    expect(Object.keys(m.children)).toContain("score");
    const alone = run(m, [[5, 6, 7]]);
    const right = run(m, [[5, 6, 7, 0, 0]], { attentionMask: tf.tensor2d([[1, 1, 1, 0, 0]], [1, 5], "int32") });
    expect(alone.shape).toEqual([1, 3]);
    expect(maxAbsDiff(alone, right)).toBeLessThan(1e-5);
    const labels = tf.tensor1d([2], "int32");
    const loss = sequenceClassificationLoss(alone, labels);
    expect(loss.shape).toEqual([]);
    tf.dispose([alone, right, labels, loss]);
    disposeTree(m);
  });
});

describe("bert encoder", () => {
  it("ignores right padding under the attention mask (feature extraction, seq-cls, token-cls)", () => {
    for (const [task, modelType] of [["FEATURE_EXTRACTION", "bert"], ["SEQ_CLS", "bert"], ["SEQ_CLS", "roberta"], ["TOKEN_CLS", "roberta"]] as const) {
      const m = unwrap(buildFromConfig({ ...tinyBertConfig, model_type: modelType, pad_token_id: 1 }, { task, seed: 5 }));
      const alone = run(m, [[2, 5, 6, 7, 3]]);
      const padded = run(m, [[2, 5, 6, 7, 3, 1, 1]], { attentionMask: tf.tensor2d([[1, 1, 1, 1, 1, 0, 0]], [1, 7], "int32") });
      const cut = padded.rank === 3 ? tf.slice(padded, [0, 0, 0], [1, 5, padded.shape[2] as number]) : padded;
      expect(maxAbsDiff(alone, cut)).toBeLessThan(1e-5);
      tf.dispose([alone, padded, cut]);
      disposeTree(m);
    }
  });

  it("applies dropout only in training mode", () => {
    const m = unwrap(buildFromConfig(tinyBertConfig, { seed: 6 }));
    const ids = tf.tensor2d([[2, 5, 6, 7]], [1, 4], "int32");
    const [e1, e2, t1] = tf.tidy(() => [forward(m, ids, ctxOf()), forward(m, ids, ctxOf()), forward(m, ids, ctxOf({}, true))]) as tf.Tensor[];
    expect(maxAbsDiff(e1 as tf.Tensor, e2 as tf.Tensor)).toBe(0);
    expect(maxAbsDiff(e1 as tf.Tensor, t1 as tf.Tensor)).toBeGreaterThan(1e-3);
    tf.dispose([ids, e1 as tf.Tensor, e2 as tf.Tensor, t1 as tf.Tensor]);
    disposeTree(m);
  });
});

describe("heads, adapters and tables", () => {
  it("ties the GPT-2 head to the base weight of a wrapped wte", () => {
    const m = unwrap(buildFromConfig(tinyGpt2Config, { seed: 7 }));
    const wte = getAt(m, ["transformer", "wte"]);
    const wrapped = node("wrapper", { children: { base_layer: wte } });
    expect(embeddingWeight(wrapped)).toBe(wte.params["weight"]);
    const adapted = inject(m, lora, loraConfig({ r: 2, targetModules: ["wte"] }));
    const kinds = builtinKinds;
    const a = tf.tidy(() => forward(m, tf.tensor2d([[1, 2, 3]], [1, 3], "int32"), { ...ctxOf(), kinds }));
    const b = tf.tidy(() => forward(adapted, tf.tensor2d([[1, 2, 3]], [1, 3], "int32"), { ...ctxOf(), kinds }));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([a, b]);
    disposeTree(adapted);
  });

  it("records PEFT's default target modules on the root, and inject uses them", () => {
    expect(unwrap(defaultTargetModules("LORA", "llama"))).toEqual(["q_proj", "v_proj"]);
    expect(unwrap(defaultTargetModules("IA3", "bert"))).toEqual(["key", "value", "output.dense"]);
    expect(unwrap(defaultTargetModules("LORA", "gpt2"))).toEqual(["c_attn"]);
    expect(defaultTargetModules("LORA", "no-such-model")._tag).toBe("Left");
    const m = unwrap(buildFromConfig(tinyLlamaConfig, { seed: 8 }));
    expect(rootMeta(m).defaultTargetModules).toEqual(["q_proj", "v_proj"]);
    const adapted = inject(m, lora, loraConfig({ r: 2 }));
    expect(getAt(adapted, ["model", "layers", "0", "self_attn", "q_proj"]).children["base_layer"]).toBeDefined();
    expect(getAt(adapted, ["model", "layers", "0", "self_attn", "k_proj"]).kind).toBe("linear");
    disposeTree(adapted);
  });

  it("is differentiable end to end (causal-LM loss → q_proj weight)", () => {
    const m = unwrap(buildFromConfig(tinyLlamaConfig, { seed: 9 }));
    const path = ["model", "layers", "1", "self_attn", "q_proj"];
    const q = getAt(m, path);
    const ids = tf.tensor2d([[5, 6, 7, 8, 9]], [1, 5], "int32");
    const grad = tf.grad((w: tf.Tensor) => {
      const tree = setAt(m, path, node("linear", { params: { weight: w }, meta: q.meta }));
      return causalLmLoss(forward(tree, ids, ctxOf()), ids);
    })(q.params["weight"] as tf.Tensor);
    expect(grad.shape).toEqual(q.params["weight"]?.shape);
    expect(tf.tidy(() => tf.max(tf.abs(grad)).dataSync()[0] as number)).toBeGreaterThan(0);
    tf.dispose([grad, ids]);
    disposeTree(m);
  });
});
