/**
 * Parity of our BatchMatMul / _FusedMatMul / Transpose kernels (src/backend/matmul.ts)
 * with the stock cpu kernels and with a float64 reference, on every GEMM path
 * available here (js always; native when the addon is built) and on both the
 * wasm and cpu backends, over random shapes, transpose flags and batch
 * broadcasting (fast-check).
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNativeGemm, setGemmPath, withStockKernels } from "../../src/backend/index.js";
import { planMatMul } from "../../src/backend/matmul-plan.js";
import { simplifyTranspose, transposeAsSwap } from "../../src/backend/transpose.js";
import { expectClose, noLeaks, on, referenceMatMul, size, values, type Result } from "./helpers.js";

interface Case {
  aShape: number[];
  bShape: number[];
  ta: boolean;
  tb: boolean;
}

/** Batch dims of the output, then each operand's: a suffix of them, some set to 1. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    M: fc.integer({ min: 1, max: 37 }),
    N: fc.integer({ min: 1, max: 37 }),
    K: fc.integer({ min: 1, max: 37 }),
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
    aDrop: fc.integer({ min: 0, max: 3 }),
    bDrop: fc.integer({ min: 0, max: 3 }),
    aOnes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    bOnes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    ta: fc.boolean(),
    tb: fc.boolean(),
  })
  .map((r) => {
    const dims = (drop: number, ones: boolean[]): number[] =>
      r.batch.slice(Math.min(drop, r.batch.length)).map((d, i) => (ones[i] === true ? 1 : d));
    const aDims = dims(r.aDrop, r.aOnes);
    const bDims = dims(r.bDrop, r.bOnes);
    return {
      aShape: [...aDims, ...(r.ta ? [r.K, r.M] : [r.M, r.K])],
      bShape: [...bDims, ...(r.tb ? [r.N, r.K] : [r.K, r.N])],
      ta: r.ta,
      tb: r.tb,
    };
  });

/**
 * Whether tfjs's stock kernels compute this case correctly. They index the
 * i-th output matrix's operands as `i % batchA` and `i % batchB`, right only
 * when each operand's batch dims are a suffix of the output's (padded with
 * 1s in front); e.g. `[2,1,m,k]·[1,2,k,n]` comes out wrong (shape included).
 */
const stockHandles = (c: Case): boolean => {
  const a = c.aShape.slice(0, -2);
  const b = c.bShape.slice(0, -2);
  const rank = Math.max(a.length, b.length);
  const pad = (d: number[]): number[] => [...new Array<number>(rank - d.length).fill(1), ...d];
  const pa = pad(a);
  const pb = pad(b);
  const out = pa.map((x, i) => Math.max(x, pb[i] as number));
  const suffix = (p: number[]): boolean => {
    let i = 0;
    while (i < rank && p[i] === 1) i++;
    return p.slice(i).every((d, j) => d === out[i + j]);
  };
  return suffix(pa) && suffix(pb);
};

const asResult = (r: { data: number[]; shape: number[] }): Result[] => [{ shape: r.shape, dtype: "float32", data: r.data }];

const native = loadNativeGemm();
const paths = native.ok ? (["js", "native"] as const) : (["js"] as const);

describe("planMatMul", () => {
  it("broadcasts batch dims like elementwise ops", () => {
    const p = planMatMul([2, 1, 3, 4], [1, 5, 4, 6], false, false);
    expect(p.outShape).toEqual([2, 5, 3, 6]);
    expect([0, 1, 5, 9].map(p.aIndex)).toEqual([0, 0, 1, 1]);
    expect([0, 1, 5, 9].map(p.bIndex)).toEqual([0, 1, 0, 4]);
  });
  it("rejects mismatched inner dims", () => {
    expect(() => planMatMul([3, 4], [5, 6], false, false)).toThrow(/inner shapes/);
  });
});

describe("transpose simplification", () => {
  it("merges adjacent axes and drops size-1 axes", () => {
    expect(simplifyTranspose([2, 3, 4], [2, 0, 1])).toEqual({ shape: [6, 4], perm: [1, 0] });
    expect(simplifyTranspose([2, 1, 3, 4], [0, 2, 1, 3])).toEqual({ shape: [24], perm: [0] });
    expect(transposeAsSwap([2, 3, 4, 5], [0, 2, 1, 3])).toEqual({ batch: 2, rows: 3, cols: 4, inner: 5 });
    expect(transposeAsSwap([2, 3, 4], [1, 0, 2])).toEqual({ batch: 1, rows: 2, cols: 3, inner: 4 });
    expect(transposeAsSwap([2, 3, 4], [0, 1, 2])).toBe("identity");
    expect(transposeAsSwap([2, 3, 4], [2, 1, 0])).toBeUndefined();
  });
});

describe.each(paths)("GEMM path: %s", (path) => {
  beforeAll(() => {
    setGemmPath(path);
  });
  afterAll(() => {
    setGemmPath();
  });

  describe.each(["wasm", "cpu"])("on %s", (backend) => {
    it("BatchMatMul agrees with a float64 reference and the stock cpu kernel", async () => {
      await noLeaks(() =>
        fc.assert(
          fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1000 }), async (c, seed) => {
            const av = values(size(c.aShape), seed);
            const bv = values(size(c.bShape), seed + 1);
            const make = (): tf.Tensor => tf.matMul(tf.tensor(av, c.aShape), tf.tensor(bv, c.bShape), c.ta, c.tb);
            const ours = await on(backend, make);
            expectClose(ours, asResult(referenceMatMul(av, c.aShape, bv, c.bShape, c.ta, c.tb)), 1e-4, `${JSON.stringify(c)} vs float64`);
            if (stockHandles(c)) {
              const stock = await withStockKernels(() => on("cpu", make));
              expectClose(ours, stock, 1e-4, `${JSON.stringify(c)} vs stock cpu`);
            }
          }),
          { numRuns: 150 },
        ),
      );
    });

    it("agrees with the float64 reference on shapes past the blocking boundaries", async () => {
      await noLeaks(async () => {
        const cases: Case[] = [
          { aShape: [130, 300], bShape: [300, 260], ta: false, tb: false },
          { aShape: [300, 130], bShape: [260, 300], ta: true, tb: true },
          { aShape: [3, 70, 129], bShape: [257, 129], ta: false, tb: true },
          { aShape: [2, 1, 129, 33], bShape: [3, 129, 65], ta: true, tb: false },
        ];
        for (const c of cases) {
          const av = values(size(c.aShape), 3);
          const bv = values(size(c.bShape), 4);
          const ours = await on(backend, () => tf.matMul(tf.tensor(av, c.aShape), tf.tensor(bv, c.bShape), c.ta, c.tb));
          expectClose(ours, asResult(referenceMatMul(av, c.aShape, bv, c.bShape, c.ta, c.tb)), 1e-4, JSON.stringify(c));
        }
      });
    });

    it("handles empty products (a zero M, N or K)", async () => {
      await noLeaks(async () => {
        for (const [as, bs] of [[[0, 4], [4, 5]], [[3, 0], [0, 5]], [[2, 3, 4], [4, 0]]] as const) {
          const av = values(size(as), 1);
          const bv = values(size(bs), 2);
          const ours = await on(backend, () => tf.matMul(tf.tensor(av, [...as]), tf.tensor(bv, [...bs])));
          expectClose(ours, asResult(referenceMatMul(av, [...as], bv, [...bs], false, false)), 1e-4, `${as}·${bs}`);
        }
      });
    });

    it("_FusedMatMul (bias, activations) agrees with unfused stock ops on cpu", async () => {
      const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "sigmoid", "prelu"] as const;
      await noLeaks(() =>
        fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }),
            fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean(),
            fc.constantFrom("none", "row", "full", "scalar"), fc.constantFrom(...activations),
            async (M, N, K, B, ta, tb, biasKind, activation) => {
              const aShape = [B, ...(ta ? [K, M] : [M, K])];
              const bShape = [B, ...(tb ? [N, K] : [K, N])];
              const biasShape = biasKind === "row" ? [N] : biasKind === "full" ? [B, M, N] : biasKind === "scalar" ? [] : undefined;
              const av = values(size(aShape), M);
              const bv = values(size(bShape), N);
              const cv = biasShape !== undefined ? values(size(biasShape), K) : undefined;
              const wv = values(N, 7);
              const fused = (): tf.Tensor =>
                tf.fused.matMul({
                  a: tf.tensor(av, aShape) as unknown as tf.Tensor2D,
                  b: tf.tensor(bv, bShape) as unknown as tf.Tensor2D,
                  transposeA: ta,
                  transposeB: tb,
                  ...(cv !== undefined && biasShape !== undefined ? { bias: tf.tensor(cv, biasShape) } : {}),
                  activation,
                  ...(activation === "prelu" ? { preluActivationWeights: tf.tensor(wv, [N]) } : {}),
                  ...(activation === "leakyrelu" ? { leakyreluAlpha: 0.3 } : {}),
                });
              const unfused = (): tf.Tensor => {
                let y = tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb);
                if (cv !== undefined && biasShape !== undefined) y = tf.add(y, tf.tensor(cv, biasShape));
                switch (activation) {
                  case "linear": return y;
                  case "relu": return tf.relu(y);
                  case "relu6": return tf.relu6(y);
                  case "elu": return tf.elu(y);
                  case "leakyrelu": return tf.leakyRelu(y, 0.3);
                  case "sigmoid": return tf.sigmoid(y);
                  case "prelu": return tf.prelu(y, tf.tensor(wv, [N]));
                }
              };
              const ours = await on(backend, fused);
              const ref = await withStockKernels(() => on("cpu", unfused));
              expectClose(ours, ref, 1e-4, `fused ${JSON.stringify({ aShape, bShape, ta, tb, biasKind, activation })}`);
            },
          ),
          { numRuns: 60 },
        ),
      );
    });

    it("Transpose agrees with the stock cpu kernel for random permutations", async () => {
      const permArb = fc
        .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 })
        .chain((shape) => fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }).map((perm) => ({ shape, perm })));
      await noLeaks(() =>
        fc.assert(
          fc.asyncProperty(permArb, async ({ shape, perm }) => {
            const xv = values(size(shape), shape.length);
            const make = (): tf.Tensor => tf.transpose(tf.tensor(xv, shape), perm);
            const ours = await on(backend, make);
            const ref = await withStockKernels(() => on("cpu", make));
            expectClose(ours, ref, 0, `transpose ${shape} by ${perm}`);
          }),
          { numRuns: 150 },
        ),
      );
    });

    it("leaves int32 products and transposes to the stock kernels", async () => {
      await noLeaks(async () => {
        const a = [1, 2, 3, 4, 5, 6];
        const ours = await on(backend, () => [
          tf.matMul(tf.tensor2d(a, [2, 3], "int32"), tf.tensor2d(a, [2, 3], "int32"), false, true),
          tf.transpose(tf.tensor2d(a, [2, 3], "int32")),
        ]);
        expect(ours[0]?.data).toEqual([14, 32, 32, 77]);
        expect(ours[1]?.data).toEqual([1, 4, 2, 5, 3, 6]);
      });
    });
  });
});
