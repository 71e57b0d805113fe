/**
 * Hand-written gradients and fused kernels against autodiff of the composite
 * forms, over random shapes (fast-check), on wasm and cpu:
 *
 * - `sparseSoftmaxCrossEntropy` (src/backend/softmax-xent.ts): per-row loss
 *   and its gradient `(softmax − onehot)·dy` vs `logSoftmax` + one-hot
 *   picking under `tf.grad`, with ignored rows, weighted upstream gradients,
 *   huge logits and rows whose target probability underflows;
 * - `geluTanhFused` (src/nn/activation.ts, a `tf.customGrad`) vs the tanh form as
 *   written (`geluTanhComposite`), values and gradients;
 * - `layerNormFused` (src/nn/norm.ts, hand-written backward) vs float64 and
 *   vs the composite, with and without affine parameters, gradients w.r.t.
 *   x, w and b;
 * - `fusedSelfAttention` (native GEMM path only) vs split + heads +
 *   `scaledDotProduct` + merge, with causal/padding masks, values and the
 *   gradient w.r.t. q|k|v;
 * - the wasm memory kernels (src/backend/wasm-memory.ts: `Slice`, `SplitV`,
 *   `GatherV2`, shared-memory `Identity`/`Cast`) vs the stock kernels.
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withStockKernels } from "../../src/backend/index.js";
import { fusedSelfAttention } from "../../src/backend/attention.js";
import { setFused } from "../../src/backend/fused.js";
import { sparseSoftmaxCrossEntropy } from "../../src/backend/softmax-xent.js";
import { activeNativeGemm } from "../../src/backend/matmul.js";
import { attentionBias, mergeHeads, scaledDotProduct, splitHeads } from "../../src/models/common/attention.js";
import { geluTanhComposite, geluTanhFused } from "../../src/nn/activation.js";
import { layerNormComposite, layerNormFused } from "../../src/nn/norm.js";
import { expectClose, geluProperty, layerNormProperty, noLeaks, on, size, values } from "./helpers.js";

// The fused ops under test, also when the suite runs with PEFT_TS_FUSED=0.
beforeAll(() => setFused(true));
afterAll(() => setFused(undefined));

const IGNORE = -100;

/** The autodiff reference: −logSoftmax(x)[label], 0 where ignored. */
const nllReference = (logits: tf.Tensor, labels: tf.Tensor): tf.Tensor => {
  const v = logits.shape[1] as number;
  const logp = tf.logSoftmax(logits);
  const isTarget = tf.equal(tf.expandDims(labels, 1), tf.range(0, v, 1, "int32"));
  const picked = tf.sum(tf.where(isTarget, logp, tf.zerosLike(logp)), -1);
  return tf.where(tf.notEqual(labels, IGNORE), tf.neg(picked), tf.zerosLike(picked));
};

const caseArb = fc
  .record({
    n: fc.integer({ min: 1, max: 7 }),
    v: fc.integer({ min: 1, max: 11 }),
    scale: fc.constantFrom(1, 10, 80),
    seed: fc.integer({ min: 1, max: 999 }),
    ignoreEvery: fc.integer({ min: 0, max: 3 }),
  })
  .map((c) => ({
    ...c,
    labels: Array.from({ length: c.n }, (_, i) => (c.ignoreEvery > 0 && i % (c.ignoreEvery + 1) === c.ignoreEvery ? IGNORE : (i * 7 + c.seed) % c.v)),
  }));

describe.each(["wasm", "cpu"])("on %s", (backend) => {
  it("sparseSoftmaxCrossEntropy: loss and gradient equal autodiff of the composite", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const run = (fused: boolean) => (): tf.Tensor[] => {
            const x = tf.mul(tf.tensor(values(c.n * c.v, c.seed), [c.n, c.v]), c.scale);
            const labels = tf.tensor1d(c.labels, "int32");
            const w = tf.add(tf.tensor1d(values(c.n, c.seed + 1)), 1.5); // a non-uniform upstream gradient
            const f = (t: tf.Tensor): tf.Tensor => {
              const nll = fused ? sparseSoftmaxCrossEntropy(t, labels, IGNORE) : nllReference(t, labels);
              if (nll === undefined) throw new Error("fused kernel missing");
              return nll;
            };
            const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), w)))(x);
            return [f(x), g];
          };
          const ours = await on(backend, run(true));
          const ref = await on(backend, run(false));
          expectClose(ours, ref, 2e-5, JSON.stringify(c));
        }),
        { numRuns: 60 },
      ),
    );
  });

  it("sparseSoftmaxCrossEntropy: an underflowing target probability is recomputed exactly", async () => {
    await noLeaks(async () => {
      const f = (): tf.Tensor[] => {
        const x = tf.tensor2d([[0, -200, 5], [1e4, -1e4, 0], [3, 3, 3]]);
        const labels = tf.tensor1d([1, 1, 2], "int32");
        return [sparseSoftmaxCrossEntropy(x, labels, IGNORE) as tf.Tensor];
      };
      const [got] = await on(backend, f);
      const lse0 = 5 + Math.log(1 + Math.exp(-5) + Math.exp(-205));
      expect(got?.data[0]).toBeCloseTo(lse0 + 200, 3);
      expect(got?.data[1]).toBeCloseTo(2e4, 0);
      expect(got?.data[2]).toBeCloseTo(Math.log(3), 6);
    });
  });

  it("geluTanhFused (custom gradient) equals the tanh form under autodiff", async () => {
    // the forms differ in rounding only
    await noLeaks(() => fc.assert(geluProperty(backend, geluTanhFused, geluTanhComposite, { scales: [1, 4, 12], maxDim: 6 }), { numRuns: 60 }));
  });
});

describe.each(["wasm", "cpu"])("layer norm with a hand-written gradient on %s", (backend) => {
  it("is as close to float64 as the composite, values and gradients w.r.t. x, w, b", async () => {
    await noLeaks(() =>
      fc.assert(layerNormProperty(backend, layerNormFused, layerNormComposite, { affines: ["wb", "w", "b", "none"], offsets: [0.5], maxLast: 9 }), { numRuns: 60 }),
    );
  });
});

const attentionArb = fc.record({
  b: fc.integer({ min: 1, max: 3 }),
  t: fc.integer({ min: 1, max: 6 }),
  heads: fc.integer({ min: 1, max: 3 }),
  hd: fc.integer({ min: 1, max: 4 }),
  mask: fc.constantFrom("none", "causal", "padded", "shared"),
  seed: fc.integer({ min: 1, max: 999 }),
});

describe.each(["wasm", "cpu"])("fused self-attention on %s", (backend) => {
  it("equals split + heads + scaledDotProduct + merge, values and gradients (native GEMM)", async () => {
    if (activeNativeGemm() === undefined) {
      // The fallback path has no strided GEMM: the op declines and callers compose.
      const none = tf.tidy(() => fusedSelfAttention(tf.zeros([1, 2, 6]), undefined, 2, 1) === undefined);
      expect(none).toBe(true);
      return;
    }
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(attentionArb, async (c) => {
          const d = c.heads * c.hd;
          const scale = 1 / Math.sqrt(c.hd);
          const run = (fused: boolean) => (): tf.Tensor[] => {
            const qkv = tf.mul(tf.tensor(values(c.b * c.t * 3 * d, c.seed), [c.b, c.t, 3 * d]), 2);
            const w = tf.tensor(values(c.b * c.t * d, c.seed + 5), [c.b, c.t, d]);
            const pad = tf.tensor2d(Array.from({ length: c.b * c.t }, (_, i) => (i % c.t === 0 || (i + c.seed) % 3 !== 0 ? 1 : 0)), [c.b, c.t], "int32");
            const bias =
              c.mask === "none"
                ? undefined
                : c.mask === "shared"
                  ? attentionBias({ batch: 1, queryLen: c.t, pastLen: 0, causal: true })
                  : attentionBias({ batch: c.b, queryLen: c.t, pastLen: 0, causal: true, mask: c.mask === "padded" ? pad : undefined });
            const f = (x: tf.Tensor): tf.Tensor => {
              if (fused) {
                const o = fusedSelfAttention(x, bias, c.heads, scale);
                if (o === undefined) throw new Error("fused attention declined");
                return o;
              }
              const [q, k, v] = tf.split(x, [d, d, d], -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
              const h = (t: tf.Tensor) => splitHeads(t, c.heads, c.hd);
              return mergeHeads(scaledDotProduct(h(q), h(k), h(v), bias, scale));
            };
            return [f(qkv), tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x), w)))(qkv)];
          };
          expectClose(await on(backend, run(true)), await on(backend, run(false)), 2e-5, JSON.stringify(c));
        }),
        { numRuns: 60 },
      ),
    );
  });

  it("declines shapes it does not cover", () => {
    if (activeNativeGemm() === undefined) return;
    tf.tidy(() => {
      expect(fusedSelfAttention(tf.zeros([1, 2, 7]), undefined, 2, 1)).toBeUndefined(); // 7 not 3·heads·hd
      expect(fusedSelfAttention(tf.zeros([1, 2, 6]), tf.zeros([1, 1, 2, 3]), 2, 1)).toBeUndefined(); // keys ≠ queries
      expect(fusedSelfAttention(tf.zeros([2, 6]), undefined, 2, 1)).toBeUndefined();
      return undefined;
    });
  });
});

describe("wasm memory kernels agree with the stock ones", () => {
  const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 });

  it("Slice over random boxes, float32 and int32", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(shapeArb, fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), fc.boolean(), async (shape, r, int) => {
          const begin = shape.map((d, i) => (r[i] as number) % d);
          const sz = shape.map((d, i) => 1 + ((r[i + 4] as number) % (d - (begin[i] as number))));
          const f = (): tf.Tensor => {
            const x = tf.tensor(values(size(shape), 7), shape);
            return tf.slice(int ? tf.cast(tf.mul(x, 100), "int32") : x, begin, sz);
          };
          expectClose(await on("wasm", f), await withStockKernels(() => on("wasm", f)), 0, `${shape} ${begin} ${sz}`);
        }),
        { numRuns: 100 },
      ),
    );
  });

  it("SplitV along every axis", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(shapeArb, fc.nat(), async (shape, r) => {
          const axis = r % shape.length;
          const d = shape[axis] as number;
          const first = 1 + (r % d);
          const splits = first === d ? [d] : [first, d - first];
          const f = (): tf.Tensor[] => tf.split(tf.tensor(values(size(shape), 9), shape), splits, axis);
          expectClose(await on("wasm", f), await withStockKernels(() => on("wasm", f)), 0, `${shape} ${axis} ${splits}`);
        }),
        { numRuns: 60 },
      ),
    );
  });

  it("GatherV2 over axes and batch dims, and its out-of-range error", async () => {
    await noLeaks(async () => {
      const cases: Array<[number[], number[], number[], number, number]> = [
        [[5, 3], [4], [4, 0, 2, 2], 0, 0],
        [[5, 3], [2, 2], [1, 0, 4, 3], 0, 0],
        [[2, 5, 3], [3], [4, 0, 1], 1, 0],
        [[2, 5, 3], [2, 2], [1, 4, 0, 0], 1, 1],
        [[4, 3], [2], [2, 1], 1, 0],
      ];
      for (const [xs, is, idx, axis, batchDims] of cases) {
        const f = (): tf.Tensor => tf.gather(tf.tensor(values(size(xs), 3), xs), tf.tensor(idx, is, "int32"), axis, batchDims);
        expectClose(await on("wasm", f), await withStockKernels(() => on("wasm", f)), 0, `${xs} ${idx} ${axis}`);
      }
      await expect(on("wasm", () => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], "int32")))).rejects.toThrow(/index value 3/);
    });
  });

  it("Identity and same-dtype Cast share memory; the copies stay correct after the source is disposed", async () => {
    await noLeaks(async () => {
      const f = (): tf.Tensor[] => {
        const x = tf.tensor2d([[1, 2], [3, 4]]);
        const c = tf.clone(x);
        const k = tf.cast(x, "float32");
        const i = tf.cast(x, "int32");
        x.dispose();
        return [c, k, i, tf.add(c, k)];
      };
      const got = await on("wasm", f);
      expect(got.map((r) => r.data)).toEqual([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [2, 4, 6, 8]]);
      expect(got[2]?.dtype).toBe("int32");
    });
  });
});
