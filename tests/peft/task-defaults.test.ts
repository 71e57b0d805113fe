/** PEFT's per-model and per-task defaults applied by inject. */
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { adapterEntry, adaptedLayers, buildFromConfig, disposeTree, inject, lora, loraConfig, nodes, type Node } from "../../src/index.js";
const toString = (p: ReadonlyArray<string>) => p.join(".");
import { tinyBertConfig, tinyLlamaConfig } from "../models/fixtures.js";

const build = (cfg: unknown, task?: "SEQ_CLS" | "CAUSAL_LM"): Node => {
  const r = buildFromConfig(cfg, task === undefined ? {} : { task });
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right;
};
const paths = (m: Node) => adaptedLayers(m).map(([p]) => p.join("."));

describe("task defaults", () => {
  it('"all-linear" adapts every linear of an untied LLaMA except lm_head (PEFT excludes the output embeddings)', () => {
    const before = tf.memory().numTensors;
    const model = build(tinyLlamaConfig);
    const adapted = inject(model, lora, loraConfig({ r: 2, targetModules: "all-linear" }));
    const got = paths(adapted);
    // 7 linears per layer (q, k, v, o, gate, up, down) × 2 layers
    expect(got).toHaveLength(14);
    expect(got).not.toContain("lm_head");
    expect(nodes(model).some(([p]) => toString(p) === "lm_head")).toBe(true);
    disposeTree(adapted);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("SEQ_CLS: target_modules default to query,value and the classifier head goes to modules_to_save", () => {
    const before = tf.memory().numTensors;
    const model = build(tinyBertConfig, "SEQ_CLS");
    const adapted = inject(model, lora, loraConfig({ r: 2, taskType: "SEQ_CLS" }));
    const got = paths(adapted);
    expect(got.every((p) => /\.(query|value)$/.test(p))).toBe(true);
    expect(got).toHaveLength(4);
    const wrappers = nodes(adapted).filter(([, n]) => n.kind === "modulesToSave").map(([p]) => toString(p));
    expect(wrappers).toEqual(["classifier"]);
    // the saved config carries the head names, as PEFT's does
    expect(adapterEntry(adapted, "default").config.modulesToSave).toEqual(["classifier", "score"]);
    disposeTree(adapted);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("nothing inside a modules_to_save module is a target", () => {
    const before = tf.memory().numTensors;
    const model = build(tinyBertConfig, "SEQ_CLS");
    const adapted = inject(model, lora, loraConfig({ r: 2, targetModules: "all-linear", modulesToSave: ["classifier"] }));
    expect(paths(adapted).some((p) => p.startsWith("classifier"))).toBe(false);
    expect(paths(adapted).length).toBeGreaterThan(0);
    disposeTree(adapted);
    expect(tf.memory().numTensors).toBe(before);
  });
});
