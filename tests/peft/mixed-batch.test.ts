/**
 * Mixed-adapter batches (`apply(model, x, { adapterNames })`, PEFT's
 * `adapter_names=`): every sample's output equals that sample run alone
 * with its adapter active (or the base model for "__base__"), on each LoRA
 * layer kind (linear, GPT-2 conv1d, conv2d, embedding), with DoRA, with a
 * modules_to_save copy that only one adapter has, and on a tiny GPT-2; and
 * PEFT's refusals (unknown name, training mode, merged adapters), with no
 * tensor leaks.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { apply, disposeTree, inject, lora, loraConfig, merge, setAdapter, withAdaptersDisabled, withParams, type Node } from "../../src/index.js";
import { getAt, setAt } from "../../src/tree/optics.js";
import { arbConv1d, arbConv2d, arbEmbedding, arbMlp, leakFree } from "../laws/models.js";
import { buildFromConfig } from "../../src/models/index.js";
import { tinyGpt2Config } from "../models/fixtures.js";
import { unwrap } from "../models/helpers.js";

const cases = [
  { arb: arbMlp, targets: ["lin0", "lin1"], batch: 5, shape: [10] },
  { arb: arbConv1d, targets: ["c0", "c1"], batch: 5, shape: [3, 6] },
  { arb: arbConv2d, targets: ["conv0", "conv1", "lin"], batch: 4, shape: [3, 5, 5] },
  { arb: arbEmbedding, targets: ["emb", "lin"], batch: 5, shape: [4] },
];

const names = ["p", "q", "__base__", "q", "p"];

/** Row i of `y` against `alone(i)`: |Δ| ≤ 1e-5·max(1, |y|). */
const expectRowsMatch = (y: tf.Tensor, alone: (row: number) => tf.Tensor, rows: number): void => {
  for (let i = 0; i < rows; i++) {
    const got = tf.tidy(() => tf.slice(y, i, 1));
    const want = alone(i);
    const g = got.dataSync();
    const w = want.dataSync();
    expect(got.shape).toEqual(want.shape);
    w.forEach((v, j) => expect(Math.abs((g[j] as number) - v), `row ${i} (${names[i]}) element ${j}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v))));
    tf.dispose([got, want]);
  }
};

/** `base` with LoRA adapters p (r 2) and q (r 3) on `targets`, randomly initialised. */
const withPandQ = (base: Node, targets: ReadonlyArray<string>, useDora = false): Node => {
  const cfg = (r: number) => loraConfig({ r, loraAlpha: r + 1, targetModules: [...targets], initLoraWeights: false, useDora });
  return inject(inject(base, lora, cfg(2), { adapterName: "p", seed: 1 }), lora, cfg(3), { adapterName: "q", seed: 2 });
};

/** Mixed-batch output of `model` on `x` (rows named by `names`), compared row by row with each row run alone. */
const checkMixed = (model: Node, x: tf.Tensor, rowNames: ReadonlyArray<string>): void => {
  const y = apply(model, x, { adapterNames: rowNames });
  expect(y.shape[0]).toBe(rowNames.length);
  expectRowsMatch(y, (i) => runAlone(model, x, i, rowNames[i] as string), rowNames.length);
  y.dispose();
};

/** One sample alone, with `name`'s adapter active (or none). */
const runAlone = (model: Node, x: tf.Tensor, row: number, name: string): tf.Tensor => {
  const xi = tf.slice(x, row, 1);
  const y = name === "__base__" ? withAdaptersDisabled(model, (m) => apply(m, xi)) : apply(setAdapter(model, name), xi);
  xi.dispose();
  return y;
};

describe("mixed-adapter batches", () => {
  for (const { arb, targets, batch } of cases) {
    const [sample] = fc.sample(arb, { numRuns: 1, seed: 5 });
    const mc = sample!;
    for (const useDora of [false, true]) {
      it(`${mc.name}${useDora ? " with DoRA" : ""}: each sample's output is its own adapter's`, () =>
        leakFree(() => {
          const base = mc.model();
          const two = withPandQ(base, targets, useDora);
          const x = tf.tidy(() => tf.concat(Array.from({ length: batch }, () => mc.input()).map((t) => tf.slice(t, 0, 1)), 0));
          checkMixed(two, x, names.slice(0, batch));
          // and it is not simply one adapter for all: p and q differ on these inputs
          const yp = apply(setAdapter(two, "p"), x);
          const yq = apply(setAdapter(two, "q"), x);
          expect(tf.tidy(() => tf.max(tf.abs(tf.sub(yp, yq))).dataSync()[0] as number)).toBeGreaterThan(1e-4);
          tf.dispose([x, yp, yq]);
          disposeTree(two);
          disposeTree(base);
        }));
    }
  }

  it("a modules_to_save copy runs only for the samples of the adapter that has it", () =>
    leakFree(() => {
      const [mc] = fc.sample(arbMlp, { numRuns: 1, seed: 7 });
      const base = mc!.model();
      const withCopy = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin0"], modulesToSave: ["lin1"], initLoraWeights: false }), { adapterName: "p", seed: 1 });
      // make p's copy of lin1 differ from the original
      const copyPath = ["lin1", "modules_to_save", "p"];
      const copy = getAt(withCopy, copyPath);
      const changed = tf.tidy(() => tf.add(copy.params["weight"] as tf.Tensor, 0.5));
      const perturbed = setAt(withCopy, copyPath, withParams(copy, { ...copy.params, weight: changed }));
      const model = inject(perturbed, lora, loraConfig({ r: 2, targetModules: ["lin0"], initLoraWeights: false }), { adapterName: "q", seed: 2 });
      const x = tf.randomNormal([5, 10], 0, 1, "float32", 3);
      checkMixed(model, x, names);
      tf.dispose([x, copy.params["weight"] as tf.Tensor]); // the copy's replaced weight; `changed` belongs to model now
      disposeTree(model);
      disposeTree(base);
    }));

  it("a tiny GPT-2 (Conv1D c_attn/c_proj/c_fc, tied head): each sequence's logits are its own adapter's", () =>
    leakFree(() => {
      const base = unwrap(buildFromConfig(tinyGpt2Config, { seed: 3 }));
      const model = withPandQ(base, ["c_attn", "c_proj", "c_fc"]);
      const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8], [2, 4, 6, 8], [9, 7, 5, 3], [1, 1, 2, 2]], [5, 4], "int32");
      checkMixed(model, ids, names);
      ids.dispose();
      disposeTree(model);
      disposeTree(base);
    }));

  it("refuses what PEFT refuses: an unknown name, training mode, merged adapters, a batch of another size", () =>
    leakFree(() => {
      const [mc] = fc.sample(arbMlp, { numRuns: 1, seed: 9 });
      const base = mc!.model();
      const model = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin0"], initLoraWeights: false }), { adapterName: "p", seed: 1 });
      const x = tf.randomNormal([2, 10], 0, 1, "float32", 3);
      expect(() => apply(model, x, { adapterNames: ["p", "zz"] })).toThrow("no adapter 'zz' in this model (adapters: p;");
      expect(() => apply(model, x, { adapterNames: ["p", "p"], training: true })).toThrow("cannot be used in training mode");
      expect(() => apply(model, x, { adapterNames: ["p", "__base__", "p"] })).toThrow("a mixed batch names 3 samples");
      const merged = merge(model);
      if (E.isLeft(merged)) throw new Error(merged.left.message);
      expect(() => apply(merged.right, x, { adapterNames: ["p", "__base__"] })).toThrow("cannot run a mixed batch (adapterNames): unmerge first");
      x.dispose();
      disposeTree(merged.right);
      disposeTree(model);
      disposeTree(base);
    }));
});
