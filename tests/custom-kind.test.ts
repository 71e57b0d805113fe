import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { apply, disposeTree, inject, lora, loraConfig, sequential } from "../src/index.js";
import { kinds, residualMlp } from "../examples/custom-kind/main.js";

describe("a user-defined kind", () => {
  it("is adapted by LoRA through forward(child): identity at default init, changed when perturbed", () => {
    const before = tf.memory().numTensors;
    const model = sequential({ block0: residualMlp(8, 16, 0) });
    const x = tf.randomNormal([2, 8], 0, 1, "float32", 3);
    const fresh = inject(model, lora, loraConfig({ r: 2, targetModules: ["fc1"] }));
    const random = inject(model, lora, loraConfig({ r: 2, targetModules: ["fc1"], initLoraWeights: false }));
    const y0 = apply(model, x, { kinds });
    const y1 = apply(fresh, x, { kinds });
    const y2 = apply(random, x, { kinds });
    const d = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
    expect(d(y0, y1)).toBe(0); // B = 0 at default init: the adapter adds exactly zero
    expect(d(y0, y2)).toBeGreaterThan(1e-3); // the adapted fc1 is really used
    tf.dispose([x, y0, y1, y2]);
    for (const t of [fresh, random]) disposeTree(t);
    disposeTree(model);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("without the kind in the registry, the error names the kind", () => {
    const model = sequential({ block0: residualMlp(4, 4, 0) });
    const x = tf.zeros([1, 4]);
    expect(() => apply(model, x)).toThrow(/no forward for kind 'residualMlp'/);
    x.dispose();
    disposeTree(model);
  });
});
