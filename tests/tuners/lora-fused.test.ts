/**
 * LoRA layers through the fused LoRA dense op (src/backend/dense.ts,
 * hooked into `loraForward`): on a `linear` + `conv1d` stack, outputs and the
 * gradients of every trainable param are the composite path's, and the fused
 * kernel runs exactly where it should (plain adapters; not with DoRA, not
 * with active dropout, not for a second adapter on the same layer).
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  conv1d,
  disposeTree,
  initBackend,
  inject,
  linear,
  lora,
  loraConfig,
  lossAndGrads,
  partition,
  sequential,
  setAdapter,
  setFused,
  type LoraConfig,
  type Node,
} from "../../src/index.js";
import { LORA_DENSE, setFusedLora } from "../../src/backend/dense.js";
import { activeNativeGemm } from "../../src/backend/matmul.js";
import { expectClose, noLeaks, seeded, type Result } from "../backend/helpers.js";

await initBackend({ quiet: true });
const native = activeNativeGemm() !== undefined;

beforeAll(() => setFused(true));
afterAll(() => {
  setFused(undefined);
  setFusedLora(undefined);
});

const base = (): Node =>
  sequential({
    lin: linear({ inFeatures: 5, outFeatures: 7 }, 11),
    c: conv1d({ inFeatures: 7, outFeatures: 4, std: 0.3 }, 12),
  });

const cfg = (over: Partial<LoraConfig>): LoraConfig => loraConfig({ r: 3, loraAlpha: 6, targetModules: ["lin", "c"], initLoraWeights: false, ...over });

/** The adapted model, with a second adapter when `second` is given (both active). */
const adapted = (over: Partial<LoraConfig>, second?: Partial<LoraConfig>): Node => {
  const m = base();
  const one = inject(m, lora, cfg(over), { seed: 1 });
  if (second === undefined) return one;
  return setAdapter(inject(one, lora, cfg(second), { adapterName: "second", seed: 2 }), ["default", "second"]);
};

const read = (t: tf.Tensor): Result => ({ shape: [...t.shape], dtype: t.dtype, data: Array.from(t.dataSync()) });

const count = (kernels: ReadonlyArray<{ name: string }>): number => kernels.filter((k) => k.name === LORA_DENSE).length;

/** Output (eval), then loss and sorted grads (training), and how many fused kernels each ran. */
const run = async (model: Node, xShape: number[], fused: boolean): Promise<{ out: Result[]; fusedEval: number; fusedTrain: number }> => {
  setFusedLora(fused);
  const x = seeded(xShape, 5);
  const up = seeded([...xShape.slice(0, -1), 4], 6);
  let y: tf.Tensor | undefined;
  const evalInfo = await tf.profile(() => {
    y = apply(model, x);
  });
  // count now: tf.profile returns the engine's one profile object, which the next call refills
  const fusedEval = count(evalInfo.kernels);
  const params = partition(model).trainable;
  let grads: Record<string, tf.Tensor> = {};
  let loss = 0;
  const trainInfo = await tf.profile(() => {
    const r = lossAndGrads(model, params, x, (m, b) => tf.sum(tf.mul(apply(m, b, { training: true }), up)) as tf.Scalar);
    grads = { ...r.grads };
    loss = r.loss;
  });
  const fusedTrain = count(trainInfo.kernels);
  const keys = Object.keys(grads).sort();
  const out = [read(y as tf.Tensor), { shape: [], dtype: "float32" as const, data: [loss] }, ...keys.map((k) => read(grads[k] as tf.Tensor))];
  tf.dispose([x, up, y as tf.Tensor, ...Object.values(grads)]);
  return { out, fusedEval, fusedTrain };
};

const cases: ReadonlyArray<{ name: string; over: Partial<LoraConfig>; second?: Partial<LoraConfig>; fusedLayers: number; fusedTrain: number }> = [
  { name: "plain", over: {}, fusedLayers: 2, fusedTrain: 2 },
  { name: "rsLoRA, r = 1", over: { r: 1, useRslora: true }, fusedLayers: 2, fusedTrain: 2 },
  { name: "trainable base biases (bias = all)", over: { bias: "all" }, fusedLayers: 2, fusedTrain: 2 },
  { name: "two adapters (the first fused, the second composed)", over: {}, second: { r: 2 }, fusedLayers: 2, fusedTrain: 2 },
  { name: "DoRA (never fused)", over: { useDora: true }, fusedLayers: 0, fusedTrain: 0 },
  { name: "lora_bias (never fused)", over: { loraBias: true }, fusedLayers: 0, fusedTrain: 0 },
];

describe("loraForward with the fused LoRA dense op", () => {
  for (const c of cases) {
    for (const xShape of [[2, 3, 5], [1, 5]]) {
      it.runIf(native)(`${c.name}, x ${JSON.stringify(xShape)}: same output, loss and gradients as the composite path`, async () => {
        const model = adapted(c.over, c.second);
        try {
          await noLeaks(async () => {
            const on = await run(model, xShape, true);
            const off = await run(model, xShape, false);
            expect(on.fusedEval).toBe(c.fusedLayers);
            expect(on.fusedTrain).toBe(c.fusedTrain);
            expect(off.fusedEval + off.fusedTrain).toBe(0);
            expect(on.out.length).toBeGreaterThan(2); // output, loss, at least one gradient
            expectClose(on.out, off.out, 2e-5, c.name);
          });
        } finally {
          disposeTree(model);
        }
      });
    }
  }

  it.runIf(native)("dropout: fused in eval, composite while training (the mask must stay)", async () => {
    const model = adapted({ loraDropout: 0.5 });
    try {
      await noLeaks(async () => {
        const on = await run(model, [2, 3, 5], true);
        expect(on.fusedEval).toBe(2);
        expect(on.fusedTrain).toBe(0);
      });
    } finally {
      disposeTree(model);
    }
  });

  it.runIf(!native)("without the native GEMM the composite path runs", async () => {
    const model = adapted({});
    try {
      const on = await run(model, [2, 3, 5], true);
      expect(on.fusedEval + on.fusedTrain).toBe(0);
    } finally {
      disposeTree(model);
    }
  });
});
