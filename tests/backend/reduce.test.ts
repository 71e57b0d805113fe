/**
 * The `Sum` kernel (src/backend/reduce.ts) against tfjs's stock kernels and
 * against float64, over random shapes and axis sets (contiguous blocks take
 * the new path; others, and int32, the stock kernel), with and without
 * keepDims, on wasm and cpu; and as the bias gradient of a dense layer.
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withStockKernels } from "../../src/backend/index.js";
import { reductionBlock, sumBlock } from "../../src/backend/reduce.js";
import { expectClose, noLeaks, on, size, values } from "./helpers.js";

const caseArb = fc
  .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axes: fc.subarray([...shape.keys()], { minLength: 1 }),
      keepDims: fc.boolean(),
      seed: fc.integer({ min: 1, max: 999 }),
    }),
  );

describe.each(["wasm", "cpu"])("Sum on %s", (backend) => {
  it("equals the stock kernel (float32 and int32, any axes, keepDims or not)", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(caseArb, fc.boolean(), async ({ shape, axes, keepDims, seed }, int) => {
          const f = (): tf.Tensor => {
            const x = tf.tensor(values(size(shape), seed), shape);
            return tf.sum(int ? tf.cast(tf.mul(x, 100), "int32") : x, axes, keepDims);
          };
          const ref = await withStockKernels(() => on(backend, f));
          // float32 running sums (stock) vs one float64 sum: ≤ a few ulps of the sum's magnitude
          expectClose(await on(backend, f), ref, int ? 0 : 1e-6, `${shape} ${axes} ${keepDims}`);
        }),
        { numRuns: 120 },
      ),
    );
  });

  it("gives the bias gradient of a dense layer (dy summed over the leading axis)", async () => {
    const [db] = await on(backend, () => {
      const x = tf.tensor(values(4 * 3, 1), [4, 3]);
      const w = tf.tensor(values(3 * 2, 2), [3, 2]);
      const b = tf.zeros([2]);
      const up = tf.tensor([[1, 10], [2, 20], [3, 30], [4, 40]]);
      return tf.grad((bb: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(x, w), bb), up)))(b);
    });
    // d/db Σ up·(xW + b) = Σ_rows up = [1+2+3+4, 10+20+30+40]
    expect(db?.data).toEqual([10, 100]);
  });
});

describe("reductionBlock / sumBlock", () => {
  it("finds [outer, reduced, inner] for contiguous axes only", () => {
    expect(reductionBlock([2, 3, 4, 5], [1, 2])).toEqual([2, 12, 5]);
    expect(reductionBlock([2, 3, 4], [0])).toEqual([1, 2, 12]);
    expect(reductionBlock([2, 3, 4], [2])).toEqual([6, 4, 1]);
    expect(reductionBlock([2, 3, 4], [0, 2])).toBeUndefined();
  });

  it("sums in float64: 2^24 + 1 + 1 … keeps every 1 (a float32 running sum loses them all)", () => {
    const n = 1001;
    const x = new Float32Array(n).fill(1);
    x[0] = 2 ** 24;
    const out = new Float32Array(1);
    sumBlock(x, 1, n, 1, out);
    expect(out[0]).toBe(2 ** 24 + 1000);
  });
});
