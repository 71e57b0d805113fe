/**
 * addWeightedAdapter on every LoRA layer kind (linear, GPT-2 conv1d, conv2d,
 * embedding): `cat` is exact (ΔW_cat = Σ wᵢ·ΔWᵢ), full-rank `svd` gives
 * PEFT's Σ wᵢsᵢ·ΔWᵢ (sᵢ twice), and the result runs and merges.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { addWeightedAdapter, adaptedLayers, apply, inject, lora, loraConfig, loraDelta, mergeAndUnload, setAdapter, tensorsOf, type Node } from "../../src/index.js";
import { toString } from "../../src/tree/path.js";
import { arbConv1d, arbConv2d, arbEmbedding, arbMlp, leakFree } from "../laws/models.js";
import fc from "fast-check";

const cases = [
  { arb: arbMlp, targets: ["lin0", "lin1"] },
  { arb: arbConv1d, targets: ["c0", "c1"] },
  { arb: arbConv2d, targets: ["conv0", "conv1", "lin"] },
  { arb: arbEmbedding, targets: ["emb", "lin"] },
];

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
const scale = (a: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0] as number);

describe("addWeightedAdapter on each layer kind", () => {
  for (const { arb, targets } of cases) {
    const [sample] = fc.sample(arb, { numRuns: 1, seed: 3 });
    const mc = sample!;
    it(`${mc.name}: cat is exact, full-rank svd is PEFT's Σ wᵢsᵢ·ΔWᵢ, both run and merge`, () =>
      leakFree(() => {
        const base = mc.model();
        const x = mc.input();
        const one = inject(base, lora, loraConfig({ r: 2, loraAlpha: 6, targetModules: targets, initLoraWeights: false }), { adapterName: "p", seed: 1 });
        const two = inject(one, lora, loraConfig({ r: 3, loraAlpha: 3, targetModules: targets, initLoraWeights: false }), { adapterName: "q", seed: 2 });
        const w = [0.7, -0.4];
        const opts = { adapters: ["p", "q"], weights: w } as const;
        const cat = addWeightedAdapter(two, { ...opts, adapterName: "cat", combinationType: "cat" });
        const sv = addWeightedAdapter(two, { ...opts, adapterName: "sv", combinationType: "svd", svdRank: 5 });
        if (E.isLeft(cat) || E.isLeft(sv)) throw new Error(`unexpected Left`);
        const sp = 6 / 2;
        const sq = 3 / 3;
        for (const [p] of adaptedLayers(two)) {
          const where = toString(p);
          const layerOf = (m: Node): Node => adaptedLayers(m).find(([q]) => toString(q) === where)![1];
          tf.tidy(() => {
            const dp = loraDelta(layerOf(two), "p");
            const dq = loraDelta(layerOf(two), "q");
            const wantCat = tf.add(tf.mul(dp, w[0]!), tf.mul(dq, w[1]!));
            const wantSvd = tf.add(tf.mul(dp, w[0]! * sp), tf.mul(dq, w[1]! * sq));
            expect(maxDiff(loraDelta(layerOf(cat.right), "cat"), wantCat), `${where} cat`).toBeLessThan(1e-5 * Math.max(1, scale(wantCat)));
            expect(maxDiff(loraDelta(layerOf(sv.right), "sv"), wantSvd), `${where} svd`).toBeLessThan(1e-5 * Math.max(1, scale(wantSvd)));
          });
        }
        for (const [m, n] of [[cat.right, "cat"], [sv.right, "sv"]] as const) {
          const active = setAdapter(m, n);
          const merged = mergeAndUnload(active);
          if (E.isLeft(merged)) throw new Error(merged.left.message);
          tf.tidy(() => {
            const y = apply(active, x);
            expect(maxDiff(apply(merged.right, x), y)).toBeLessThan(1e-4 * Math.max(1, scale(y)));
          });
          const held = tensorsOf(m);
          tf.dispose([...tensorsOf(merged.right)].filter((t) => !held.has(t)));
        }
        const keep = new Set(tensorsOf(base));
        tf.dispose([...new Set([...tensorsOf(cat.right), ...tensorsOf(sv.right)])].filter((t) => !keep.has(t)));
        tf.dispose([...tensorsOf(base), x]);
      }));
  }
});
