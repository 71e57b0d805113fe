/**
 * Our comparison / logical / Pow kernels (src/backend/compare.ts, pow.ts) agree
 * with the stock cpu kernels over random broadcasting shapes and dtypes, on
 * wasm and cpu.
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withStockKernels } from "../../src/backend/index.js";
import { planBroadcast } from "../../src/backend/compare.js";
import { expectClose, noLeaks, on, size, values } from "./helpers.js";

/** Two shapes broadcasting together: a common shape, each side dropping leading axes or setting axes to 1. */
const shapesArb = fc
  .record({
    out: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 4 }),
    aDrop: fc.integer({ min: 0, max: 4 }),
    bDrop: fc.integer({ min: 0, max: 4 }),
    aOnes: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    bOnes: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  })
  .map(({ out, aDrop, bDrop, aOnes, bOnes }) => ({
    a: out.slice(Math.min(aDrop, out.length)).map((d, i) => (aOnes[i] === true ? 1 : d)),
    b: out.slice(Math.min(bDrop, out.length)).map((d, i) => (bOnes[i] === true ? 1 : d)),
  }));

/** Small integers (so equality happens), as float32, int32 or bool. */
const tensorOf = (shape: number[], seed: number, dtype: "float32" | "int32" | "bool"): tf.Tensor => {
  const v = Array.from(values(size(shape), seed), (x) => Math.round(x * 2));
  if (dtype === "bool") return tf.tensor(v.map((x) => x > 0), shape, "bool");
  return tf.tensor(v, shape, dtype);
};

const OPS = {
  Equal: tf.equal,
  NotEqual: tf.notEqual,
  Greater: tf.greater,
  GreaterEqual: tf.greaterEqual,
  Less: tf.less,
  LessEqual: tf.lessEqual,
} as const;

describe("planBroadcast", () => {
  it("merges axes with the same pattern and drops size-1 axes", () => {
    expect(planBroadcast([1016, 1], [5000])).toEqual({ outShape: [1016, 5000], dims: [1016, 5000], sa: [1, 0], sb: [0, 1] });
    expect(planBroadcast([2, 3, 4], [2, 3, 4])).toEqual({ outShape: [2, 3, 4], dims: [24], sa: [1], sb: [1] });
    expect(planBroadcast([8, 1, 1, 128], [1, 1, 128, 128])).toEqual({ outShape: [8, 1, 128, 128], dims: [8, 128, 128], sa: [128, 0, 1], sb: [0, 128, 1] });
  });
});

describe.each(["wasm", "cpu"])("on %s", (backend) => {
  it("comparisons agree with stock cpu over random broadcasts and dtypes", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(shapesArb, fc.constantFrom(...(Object.keys(OPS) as (keyof typeof OPS)[])), fc.constantFrom("float32" as const, "int32" as const), fc.integer({ min: 1, max: 99 }), async (s, op, dtype, seed) => {
          const f = (): tf.Tensor => OPS[op](tensorOf(s.a, seed, dtype), tensorOf(s.b, seed + 1, dtype));
          const ours = await on(backend, f);
          const ref = await withStockKernels(() => on("cpu", f));
          expect(ours[0]?.dtype).toBe("bool");
          expectClose(ours, ref, 0, `${op} ${dtype} ${JSON.stringify(s)}`);
        }),
        { numRuns: 150 },
      ),
    );
  });

  it("logical and/or agree with stock cpu over random broadcasts", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(shapesArb, fc.boolean(), fc.integer({ min: 1, max: 99 }), async (s, and, seed) => {
          const f = (): tf.Tensor => (and ? tf.logicalAnd : tf.logicalOr)(tensorOf(s.a, seed, "bool"), tensorOf(s.b, seed + 1, "bool"));
          expectClose(await on(backend, f), await withStockKernels(() => on("cpu", f)), 0, `${and ? "and" : "or"} ${JSON.stringify(s)}`);
        }),
        { numRuns: 80 },
      ),
    );
  });

  it("comparisons with NaN and signed zeros behave like stock", async () => {
    await noLeaks(async () => {
      const f = (): tf.Tensor[] => {
        const a = tf.tensor1d([NaN, 0, -0, 1, NaN]);
        const b = tf.tensor1d([NaN, -0, 0, NaN, 1]);
        return [tf.equal(a, b), tf.notEqual(a, b), tf.less(a, b), tf.greaterEqual(a, b)];
      };
      expectClose(await on(backend, f), await withStockKernels(() => on("cpu", f)), 0, "nan");
    });
  });

  it("Pow with scalar exponents (fast ones and others) and its gradient agree with stock", async () => {
    await noLeaks(async () => {
      for (const e of [1, 2, 3, 4, -1, 0.5, -0.5, 1.5, 0]) {
        const f = (): tf.Tensor[] => {
          const x = tf.add(tf.abs(tf.tensor(values(24, 5), [2, 3, 4])), 0.1);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.pow(t, e)))(x);
          return [tf.pow(x, e), tf.pow(tf.tensor1d([-2, 0, 2]), e), g];
        };
        expectClose(await on(backend, f), await withStockKernels(() => on("cpu", f)), 1e-5, `pow ${e}`);
      }
      const g = (): tf.Tensor => tf.pow(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor1d([2, 3]));
      expectClose(await on(backend, g), await withStockKernels(() => on("cpu", g)), 1e-6, "pow by tensor");
    });
  });
});
