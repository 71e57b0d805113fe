/**
 * GPT-2 against the golden cases of real PEFT/transformers: for every case
 * whose model is gpt2, the base model built from case.json's config and
 * base_model.safetensors reproduces `output_base`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { loadTensors } from "../../src/io/safetensors.js";
import { forward } from "../../src/nn/registry.js";
import { buildGpt2, decodeGpt2Config } from "../../src/models/gpt2/index.js";
import { inputEmbeddings } from "../../src/models/common/head.js";
import { stateDictSource } from "../../src/models/common/source.js";
import { loadModel } from "../../src/models/hub/index.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { ctxOf, expectClose, unwrap } from "./helpers.js";

const GOLDEN = fileURLToPath(new URL("../../../shared/golden/", import.meta.url));

const gpt2Cases = fs.existsSync(GOLDEN)
  ? fs
      .readdirSync(GOLDEN)
      .filter((d) => fs.existsSync(path.join(GOLDEN, d, "case.json")))
      .filter((d) => JSON.parse(fs.readFileSync(path.join(GOLDEN, d, "case.json"), "utf8")).model?.kind === "gpt2")
  : [];

describe("gpt2 golden base outputs", () => {
  it("finds the gpt2 cases", () => {
    expect(gpt2Cases.length).toBeGreaterThan(0);
  });

  it.each(gpt2Cases)("%s: output_base", async (name) => {
    const dir = path.join(GOLDEN, name);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, "case.json"), "utf8"));
    const before = tf.memory().numTensors;
    const sd = await loadTensors(path.join(dir, "base_model.safetensors"));
    const inputs = await loadTensors(path.join(dir, "inputs.safetensors"));
    const expected = await loadTensors(path.join(dir, "expected.safetensors"));
    const cfg = unwrap(decodeGpt2Config(spec.model.config));
    const src = stateDictSource(sd);
    const model = buildGpt2(cfg, { source: src.source });
    expect(src.report()).toEqual({ missing: [], unexpected: [], shapes: [], initialized: [] });
    const logits = tf.tidy(() =>
      forward(model, inputs["input_ids"] as tf.Tensor, ctxOf({ attentionMask: inputs["attention_mask"] })),
    );
    expectClose(logits, expected["output_base"] as tf.Tensor);
    tf.dispose([logits, ...Object.values(sd), ...Object.values(inputs), ...Object.values(expected)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("gpt2 golden checkpoints as Hugging Face folders", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "peft-ts-golden-"));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const folder = (name: string, weights: string): string => {
    const dir = path.join(tmp, `${name}-${weights}`);
    fs.mkdirSync(dir, { recursive: true });
    const spec = JSON.parse(fs.readFileSync(path.join(GOLDEN, name, "case.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(spec.model.config));
    fs.copyFileSync(path.join(GOLDEN, name, weights), path.join(dir, "model.safetensors"));
    return dir;
  };

  const withMerged = gpt2Cases.filter((d) => fs.existsSync(path.join(GOLDEN, d, "merged_model.safetensors")));

  const folderCases: ReadonlyArray<readonly [string, string, string]> = [
    ...gpt2Cases.slice(0, 1).map((d) => [d, "base_model.safetensors", "output_base"] as const),
    ...withMerged.map((d) => [d, "merged_model.safetensors", "output_merged"] as const),
  ];

  it.each(folderCases)(
    "%s: loadModel(%s) reproduces %s",
    async (name, weights, key) => {
      const before = tf.memory().numTensors;
      const model = await loadModel(folder(name, weights));
      expect(model.kind).toBe("gpt2");
      const inputs = await loadTensors(path.join(GOLDEN, name, "inputs.safetensors"));
      const expected = await loadTensors(path.join(GOLDEN, name, "expected.safetensors"));
      const logits = tf.tidy(() => forward(model, inputs["input_ids"] as tf.Tensor, ctxOf({ attentionMask: inputs["attention_mask"] })));
      expectClose(logits, expected[key] as tf.Tensor);
      tf.dispose([logits, ...Object.values(inputs), ...Object.values(expected)]);
      disposeTree(model);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});

describe("gpt2 side inputs against PEFT's prompt-learning goldens", () => {
  const load = async (name: string) => {
    const dir = path.join(GOLDEN, name);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, "case.json"), "utf8"));
    const sd = await loadTensors(path.join(dir, "base_model.safetensors"));
    const model = buildGpt2(unwrap(decodeGpt2Config(spec.model.config)), { source: stateDictSource(sd).source });
    const inputs = await loadTensors(path.join(dir, "inputs.safetensors"));
    const expected = await loadTensors(path.join(dir, "expected.safetensors"));
    const adapter = await loadTensors(path.join(dir, "adapter", "adapter_model.safetensors"));
    const all = [...Object.values(sd), ...Object.values(inputs), ...Object.values(expected), ...Object.values(adapter)];
    return { model, inputs, expected, adapter, dispose: () => tf.dispose(all) };
  };

  it("prefix_tuning_gpt2: prefixKeyValues per layer reproduce output_adapter", async () => {
    const before = tf.memory().numTensors;
    const { model, inputs, expected, adapter, dispose } = await load("prefix_tuning_gpt2");
    const ids = inputs["input_ids"] as tf.Tensor;
    const logits = tf.tidy(() => {
      const [b] = ids.shape as [number, number];
      const emb = adapter["prompt_embeddings"] as tf.Tensor; // [V, L·2·D]
      const v = emb.shape[0] as number;
      // view(B, V, 2L, H, hd).permute(2, 0, 3, 1, 4): layer i key = chunk 2i, value = chunk 2i + 1
      const kv = tf.transpose(tf.reshape(tf.tile(tf.expandDims(emb, 0), [b, 1, 1]), [b, v, 4, 4, 8]), [2, 0, 3, 1, 4]);
      const chunk = (i: number): tf.Tensor => tf.squeeze(tf.slice(kv, [i, 0, 0, 0, 0], [1, b, 4, v, 8]), [0]);
      const prefixKeyValues = [0, 1].map((l) => [chunk(2 * l), chunk(2 * l + 1)] as const);
      return forward(model, ids, ctxOf({ prefixKeyValues, attentionMask: inputs["attention_mask"] }));
    });
    expectClose(logits, expected["output_adapter"] as tf.Tensor);
    tf.dispose(logits);
    dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("prompt_tuning_gpt2: inputsEmbeds with virtual tokens first reproduce output_adapter", async () => {
    const { model, inputs, expected, adapter, dispose } = await load("prompt_tuning_gpt2");
    const ids = inputs["input_ids"] as tf.Tensor;
    const logits = tf.tidy(() => {
      const [b, t] = ids.shape as [number, number];
      const prompts = adapter["prompt_embeddings"] as tf.Tensor; // [V, D]
      const v = prompts.shape[0] as number;
      const words = forward(inputEmbeddings(model), ids, ctxOf());
      const inputsEmbeds = tf.concat([tf.tile(tf.expandDims(prompts, 0), [b, 1, 1]), words], 1);
      const attentionMask = tf.concat([tf.ones([b, v], "int32"), tf.cast(inputs["attention_mask"] as tf.Tensor, "int32")], 1);
      expect(inputsEmbeds.shape).toEqual([b, v + t, 32]);
      return forward(model, ids, ctxOf({ inputsEmbeds, attentionMask }));
    });
    expectClose(logits, expected["output_adapter"] as tf.Tensor);
    tf.dispose(logits);
    dispose();
  });
});
