/**
 * Tiny LLaMA-, Qwen2-, GPT-2-, BERT- and RoBERTa-shaped models go through a
 * Hugging Face folder (save → load) and come back with the same keys and the
 * same outputs; tied weights are stored once; adapted trees are refused
 * until merged; merged trees load again.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { loadTensors } from "../../src/io/safetensors.js";
import { buildFromConfig, type TaskType } from "../../src/models/index.js";
import { loadModel, loadModelWithReport, saveModel } from "../../src/models/hub/index.js";
import { forward } from "../../src/nn/registry.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { toStateDict } from "../../src/tree/params.js";
import { inject, mergeAndUnload } from "../../src/peft/index.js";
import { lora, loraConfig } from "../../src/tuners/index.js";
import { builtinKinds } from "../../src/apply.js";
import { ctxOf, maxAbsDiff, unwrap } from "./helpers.js";
import { idsOf, tinyBertConfig, tinyGpt2Config, tinyLlamaConfig } from "./fixtures.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "peft-ts-models-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = (): tf.Tensor => tf.tensor2d(idsOf(2, 7, 30), [2, 7], "int32");
const mask = (): tf.Tensor => tf.tensor2d([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]], [2, 7], "int32");

const run = (model: Parameters<typeof forward>[0], kinds = ctxOf().kinds): tf.Tensor =>
  tf.tidy(() => {
    const [i, m] = [ids(), mask()];
    return forward(model, i, { ...ctxOf({ attentionMask: m }), kinds });
  });

const cases: ReadonlyArray<readonly [string, Record<string, unknown>, TaskType, ReadonlyArray<string>]> = [
  ["llama causal-lm (GQA, untied)", tinyLlamaConfig, "CAUSAL_LM", ["model.layers.1.self_attn.k_proj.weight", "lm_head.weight"]],
  ["qwen2 causal-lm (qkv bias, tied)", { ...tinyLlamaConfig, model_type: "qwen2", tie_word_embeddings: true }, "CAUSAL_LM", ["model.layers.0.self_attn.q_proj.bias"]],
  ["mistral seq-cls", { ...tinyLlamaConfig, model_type: "mistral", sliding_window: 4, num_labels: 2 }, "SEQ_CLS", ["score.weight"]],
  ["gpt2 causal-lm (tied)", tinyGpt2Config, "CAUSAL_LM", ["transformer.h.1.attn.c_attn.weight"]],
  ["bert seq-cls", tinyBertConfig, "SEQ_CLS", ["bert.pooler.dense.weight", "classifier.bias", "bert.encoder.layer.1.attention.self.query.weight"]],
  ["roberta token-cls", { ...tinyBertConfig, model_type: "roberta", pad_token_id: 1 }, "TOKEN_CLS", ["roberta.embeddings.position_embeddings.weight", "classifier.weight"]],
  ["bert feature-extraction", tinyBertConfig, "FEATURE_EXTRACTION", ["embeddings.word_embeddings.weight", "pooler.dense.bias"]],
];

describe("save → load round trip", () => {
  it.each(cases)("%s", async (name, config, task, someKeys) => {
    const before = tf.memory().numTensors;
    const model = unwrap(buildFromConfig(config, { task, seed: 7 }));
    const keys = Object.keys(toStateDict(model));
    for (const k of someKeys) expect(keys).toContain(k);
    const dir = path.join(tmp, name.replace(/\W+/g, "-"));
    await saveModel(model, dir);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    expect(saved.model_type).toBe(config["model_type"]);
    const { model: again, report } = await loadModelWithReport(dir);
    expect(report.initialized).toEqual([]);
    expect(again.kind).toBe(model.kind);
    expect(Object.keys(toStateDict(again)).sort()).toEqual([...keys].sort());
    const [a, b] = [run(model), run(again)];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    disposeTree(model);
    disposeTree(again);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("stores a tied lm_head once, under the embedding's key", async () => {
    const model = unwrap(buildFromConfig(tinyGpt2Config, { seed: 1 }));
    expect(model.meta["tied"]).toEqual({ "lm_head.weight": "transformer.wte.weight" });
    const dir = path.join(tmp, "tied");
    await saveModel(model, dir);
    const file = await loadTensors(path.join(dir, "model.safetensors"));
    expect(Object.keys(file)).not.toContain("lm_head.weight");
    expect(Object.keys(file)).toContain("transformer.wte.weight");
    tf.dispose(Object.values(file));
    disposeTree(model);
  });

  it("writes and reads a sharded checkpoint", async () => {
    const model = unwrap(buildFromConfig(tinyLlamaConfig, { seed: 2 }));
    const dir = path.join(tmp, "sharded");
    await saveModel(model, dir, { maxShardBytes: 20_000 });
    expect(fs.existsSync(path.join(dir, "model.safetensors.index.json"))).toBe(true);
    expect(fs.existsSync(path.join(dir, "model.safetensors"))).toBe(false);
    const again = await loadModel(dir);
    const [a, b] = [run(model), run(again)];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    disposeTree(model);
    disposeTree(again);
  });

  it("loads a base checkpoint under a task head (fresh head, prefix added) and a head checkpoint bare", async () => {
    const base = unwrap(buildFromConfig(tinyBertConfig, { task: "FEATURE_EXTRACTION", seed: 3 }));
    const dir = path.join(tmp, "bert-base");
    await saveModel(base, dir);
    const { model: clf, report } = await loadModelWithReport(dir, { task: "SEQ_CLS" });
    expect([...report.initialized].sort()).toEqual(["classifier.bias", "classifier.weight"]);
    expect(clf.kind).toBe("seqCls");
    const w0 = toStateDict(base)["encoder.layer.0.attention.self.query.weight"] as tf.Tensor;
    const w1 = toStateDict(clf)["bert.encoder.layer.0.attention.self.query.weight"] as tf.Tensor;
    expect(maxAbsDiff(w0, w1)).toBe(0);
    const clfDir = path.join(tmp, "bert-clf");
    await saveModel(clf, clfDir);
    const bare = await loadModel(clfDir, { task: "FEATURE_EXTRACTION" });
    const [a, b] = [run(base), run(bare)];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    for (const m of [base, clf, bare]) disposeTree(m);
  });

  it("reports a checkpoint that does not fit, naming the keys, without leaking", async () => {
    const model = unwrap(buildFromConfig(tinyLlamaConfig, { seed: 4 }));
    const dir = path.join(tmp, "misfit");
    await saveModel(model, dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...cfg, intermediate_size: 40 }));
    const before = tf.memory().numTensors;
    await expect(loadModel(dir)).rejects.toThrow(/model\.layers\.0\.mlp\.gate_proj\.weight: expected \[40, 32\], got \[48, 32\]/);
    expect(tf.memory().numTensors).toBe(before);
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...cfg, model_type: "t5" }));
    await expect(loadModel(dir)).rejects.toThrow(/model_type 't5' is not supported/);
    disposeTree(model);
  });

  it("refuses an adapted tree, and saves its merged model, which loads again with the adapter's outputs", async () => {
    const model = unwrap(buildFromConfig(tinyLlamaConfig, { seed: 5 }));
    const adapted = inject(model, lora, loraConfig({ r: 4, loraAlpha: 8, targetModules: ["q_proj", "v_proj"], initLoraWeights: false }));
    const dir = path.join(tmp, "merged");
    await expect(saveModel(adapted, dir)).rejects.toThrow(/merge and unload adapters first/);
    const merged = unwrap(mergeAndUnload(adapted));
    await saveModel(merged, dir);
    const again = await loadModel(dir);
    const [a, b] = [run(adapted, builtinKinds), run(again)];
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([a, b]);
    for (const m of [adapted, merged, again]) disposeTree(m);
  });
});
