/**
 * Gradients: tfjs-core's gradient functions are registered under Node, our
 * broadcasting fixes hold, and gradients of a small MLP and of an embedding
 * lookup agree between wasm (our kernels, on every GEMM path here) and the
 * stock cpu backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNativeGemm, setGemmPath, withStockKernels } from "../../src/backend/index.js";
import { gradientsRegistered } from "../../src/backend/gradients.js";
import { expectClose, noLeaks, on, seeded, values } from "./helpers.js";

const geluTanh = (x: tf.Tensor): tf.Tensor =>
  tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));

/** linear (torch layout, x·Wᵀ+b) → gelu → linear → logSoftmax → NLL, mean over rows. */
const mlpLoss = (x: tf.Tensor, labels: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Scalar => {
  const h = geluTanh(tf.add(tf.matMul(x, w1, false, true), b1));
  const logits = tf.add(tf.matMul(h, w2, false, true), b2);
  const logp = tf.logSoftmax(logits);
  const classes = logits.shape[logits.shape.length - 1] as number;
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(labels, classes)), -1))) as tf.Scalar;
};

const mlpCase = (batch: number[], din: number, hidden: number, classes: number, seed: number) => (): tf.Tensor[] => {
  const rows = batch.reduce((a, b) => a * b, 1);
  const x = seeded([...batch, din], seed);
  const labels = tf.tensor(Array.from({ length: rows }, (_, i) => (i * 7 + seed) % classes), batch, "int32");
  const params = [seeded([hidden, din], seed + 1), seeded([hidden], seed + 2), seeded([classes, hidden], seed + 3), seeded([classes], seed + 4)];
  const { value, grads } = tf.valueAndGrads((w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) => mlpLoss(x, labels, w1, b1, w2, b2))(params);
  return [value, ...grads];
};

const embeddingCase = (vocab: number, dim: number, batch: number, len: number, seed: number) => (): tf.Tensor[] => {
  const table = seeded([vocab, dim], seed);
  const idsData = values(batch * len, seed + 1).map((v) => Math.floor(((v + 1) / 2) * vocab) % vocab);
  const ids = tf.tensor(Array.from(idsData), [batch, len], "int32");
  const head = seeded([dim, 3], seed + 2);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.gather(t, ids), head))))(table);
  return [g];
};

describe("gradient registration", () => {
  it("has tfjs-core's gradients under Node", () => {
    expect(gradientsRegistered()).toBe(true);
    for (const k of [tf.Sum, tf.BatchMatMul, tf.GatherV2, tf.Conv2D, tf.Softmax]) expect(tf.getGradient(k), k).toBeDefined();
  });

  it("differentiates through comparisons (zero gradients)", async () => {
    await noLeaks(async () => {
      const [g] = await on("wasm", () => tf.grad((x: tf.Tensor) => tf.sum(tf.where(tf.greater(x, 0), x, tf.mul(x, 0.1))))(tf.tensor1d([-2, 3])));
      expect(g?.data.map((v) => Number(v.toFixed(6)))).toEqual([0.1, 1]);
    });
  });

  it("sums broadcast matMul gradients to each input's shape (x[B,T,K]·W[K,N], both transposes)", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 3 }), async (ta, tb, B) => {
          const aShape = [B, 2, ...(ta ? [4, 3] : [3, 4])];
          const bShape = tb ? [5, 4] : [4, 5];
          const f = (): tf.Tensor[] => {
            const a = seeded(aShape, 1);
            const b = seeded(bShape, 2);
            return tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, w, ta, tb))))([a, b]);
          };
          // reference: tile W over the batch explicitly, so no broadcasting is involved
          const ref = (): tf.Tensor[] => {
            const a = seeded(aShape, 1);
            const b = seeded(bShape, 2);
            const [ga, gTiled] = tf.grads((x: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, wt, ta, tb))))([
              a,
              tf.tile(tf.reshape(b, [1, 1, ...bShape]), [B, 2, 1, 1]),
            ]);
            return [ga as tf.Tensor, tf.sum(gTiled as tf.Tensor, [0, 1])];
          };
          const ours = await on("wasm", f);
          const expected = await withStockKernels(() => on("cpu", ref));
          expectClose(ours, expected, 1e-4, `ta=${ta} tb=${tb} B=${B}`);
        }),
        { numRuns: 24 },
      ),
    );
  });
});

const native = loadNativeGemm();
const paths = native.ok ? (["js", "native"] as const) : (["js"] as const);

describe.each(paths)("wasm vs stock cpu gradients, GEMM path %s", (path) => {
  beforeAll(() => {
    setGemmPath(path);
  });
  afterAll(() => {
    setGemmPath();
  });

  it("MLP (linear → gelu → linear → logSoftmax → NLL): loss and every parameter gradient", async () => {
    await noLeaks(async () => {
      for (const [batch, seed] of [[[8], 1], [[2, 5], 2], [[3, 1, 4], 3]] as const) {
        const f = mlpCase([...batch], 12, 16, 5, seed);
        const ours = await on("wasm", f);
        const ref = await withStockKernels(() => on("cpu", f));
        expectClose(ours, ref, 1e-4, `mlp batch ${batch}`);
      }
    });
  });

  it("MLP gradients agree for random sizes", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 99 }),
          async (rows, din, hidden, classes, seed) => {
            const f = mlpCase([rows], din, hidden, classes, seed);
            const ours = await on("wasm", f);
            const ref = await withStockKernels(() => on("cpu", f));
            expectClose(ours, ref, 1e-4, `mlp ${rows}x${din}→${hidden}→${classes}`);
          },
        ),
        { numRuns: 30 },
      ),
    );
  });

  it("embedding gather gradient (UnsortedSegmentSum) agrees, repeated ids included", async () => {
    await noLeaks(async () => {
      for (const [v, d, b, l, seed] of [[7, 4, 2, 5, 1], [50, 16, 3, 9, 2], [3, 2, 4, 8, 3]] as const) {
        const f = embeddingCase(v, d, b, l, seed);
        const ours = await on("wasm", f);
        const ref = await withStockKernels(() => on("cpu", f));
        expectClose(ours, ref, 1e-4, `embedding ${v}x${d}`);
      }
    });
  });

  it("on cpu too: our cpu kernels agree with the stock cpu kernels", async () => {
    await noLeaks(async () => {
      const f = mlpCase([2, 5], 12, 16, 5, 4);
      const ours = await on("cpu", f);
      const ref = await withStockKernels(() => on("cpu", f));
      expectClose(ours, ref, 1e-4, "mlp on cpu");
      const e = embeddingCase(30, 8, 2, 6, 5);
      expectClose(await on("cpu", e), await withStockKernels(() => on("cpu", e)), 1e-4, "embedding on cpu");
    });
  });
});
