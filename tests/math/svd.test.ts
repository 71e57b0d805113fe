/**
 * The float64 SVD: properties (U and Vh orthonormal, U·S·Vh = A, S descending
 * and ≥ 0) on random, rank-deficient and wide/tall matrices; and the task
 * merges of PEFT's merge_utils on small hand-checked cases.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { svd, svdOfProduct } from "../../src/math/svd.js";
import * as TM from "../../src/math/task-merge.js";

const frob = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/**
 * max |G − I| of the k×k Gram matrix of k vectors of length len, where
 * element i of vector p sits at at(p, i): columns of [len, k] (at = i·k + p)
 * or rows of [k, len] (at = p·len + i).
 */
const orthoError = (x: Float64Array, k: number, len: number, at: (p: number, i: number) => number): number => {
  let worst = 0;
  for (let p = 0; p < k; p++) {
    for (let q = 0; q < k; q++) {
      let d = 0;
      for (let i = 0; i < len; i++) d += (x[at(p, i)] as number) * (x[at(q, i)] as number);
      worst = Math.max(worst, Math.abs(d - (p === q ? 1 : 0)));
    }
  }
  return worst;
};
const orthoErrorCols = (x: Float64Array, rows: number, k: number): number => orthoError(x, k, rows, (p, i) => i * k + p);
const orthoErrorRows = (x: Float64Array, k: number, cols: number): number => orthoError(x, k, cols, (p, i) => p * cols + i);

const reconstruct = (u: Float64Array, s: Float64Array, vh: Float64Array, m: number, n: number, k: number): Float64Array => {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let l = 0; l < k; l++) acc += (u[i * k + l] as number) * (s[l] as number) * (vh[l * n + j] as number);
    out[i * n + j] = acc;
  }
  return out;
};

/** Matrices of size 1–12 × 1–12, full or of low rank (a product of two thin factors). */
const arbMatrix = fc
  .record({ m: fc.integer({ min: 1, max: 12 }), n: fc.integer({ min: 1, max: 12 }), rank: fc.integer({ min: 0, max: 12 }), lowRank: fc.boolean() })
  .chain(({ m, n, rank, lowRank }) => {
    const entries = (len: number) => fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: len, maxLength: len });
    if (!lowRank) return entries(m * n).map((a) => ({ m, n, a: Float64Array.from(a) }));
    const r = Math.min(rank, m, n);
    return fc.tuple(entries(m * r), entries(r * n)).map(([b, c]) => {
      const a = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let l = 0; l < r; l++) a[i * n + j] = (a[i * n + j] as number) + (b[i * r + l] as number) * (c[l * n + j] as number);
      return { m, n, a };
    });
  });

describe("svd (one-sided Jacobi, float64)", () => {
  it("U, Vh orthonormal; S descending, ≥ 0; U·S·Vh = A", () => {
    fc.assert(
      fc.property(arbMatrix, ({ m, n, a }) => {
        const { u, s, vh, k } = svd(a, m, n);
        expect(k).toBe(Math.min(m, n));
        expect(orthoErrorCols(u, m, k)).toBeLessThan(1e-10);
        expect(orthoErrorRows(vh, k, n)).toBeLessThan(1e-10);
        for (let i = 0; i < k; i++) {
          expect(s[i]).toBeGreaterThanOrEqual(0);
          if (i > 0) expect(s[i]).toBeLessThanOrEqual(s[i - 1] as number);
        }
        const back = reconstruct(u, s, vh, m, n, k);
        const err = frob(back.map((x, i) => x - (a[i] as number)));
        expect(err).toBeLessThanOrEqual(1e-12 * Math.max(1, frob(a)));
      }),
      { numRuns: 200 },
    );
  });

  it("the top singular pair of a rank-one matrix, and known values", () => {
    const { s } = svd(Float64Array.from([1, 2, 3, 4, 5, 6]), 2, 3);
    expect(s[0]).toBeCloseTo(9.508032000695723, 12);
    expect(s[1]).toBeCloseTo(0.7728696356734838, 12);
    const zero = svd(new Float64Array(6), 3, 2);
    expect(Array.from(zero.s)).toEqual([0, 0]);
    expect(orthoErrorCols(zero.u, 3, 2)).toBeLessThan(1e-15);
  });

  it("refuses a buffer of the wrong size", () => {
    expect(() => svd(new Float64Array(5), 2, 3)).toThrow("expected 2×3 = 6 values, got 5");
  });
});

describe("svdOfProduct (QR of the factors, SVD of the core)", () => {
  it("equals the Jacobi SVD of the formed product: same singular values, U·S·Vh = B·A, orthonormal vectors", () => {
    const dims = fc.record({ m: fc.integer({ min: 3, max: 24 }), n: fc.integer({ min: 3, max: 24 }), seed: fc.integer({ min: 1, max: 9999 }) });
    fc.assert(
      fc.property(
        dims.chain((d) => fc.record({ d: fc.constant(d), r: fc.integer({ min: 1, max: Math.min(d.m, d.n) - 1 }), deficient: fc.boolean() })),
        ({ d: { m, n, seed }, r, deficient }) => {
          let x = seed;
          const rand = (): number => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
          const b = Float64Array.from({ length: m * r }, rand);
          const a = Float64Array.from({ length: r * n }, rand);
          if (deficient && r > 1) for (let i = 0; i < m; i++) b[i * r + r - 1] = b[i * r] as number; // two equal columns of B
          const ba = new Float64Array(m * n);
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let t = 0; t < r; t++) ba[i * n + j] = (ba[i * n + j] as number) + (b[i * r + t] as number) * (a[t * n + j] as number);
          const fast = svdOfProduct(b, a, m, r, n);
          const full = svd(ba, m, n);
          expect(fast.k).toBe(r);
          const scale = Math.max(1, full.s[0] as number);
          for (let i = 0; i < r; i++) expect(Math.abs((fast.s[i] as number) - (full.s[i] as number))).toBeLessThan(1e-10 * scale);
          const back = reconstruct(fast.u, fast.s, fast.vh, m, n, r);
          expect(frob(back.map((v, i) => v - (ba[i] as number)))).toBeLessThan(1e-10 * Math.max(1, frob(ba)));
          // the vectors of the nonzero singular values are orthonormal
          const nz = Array.from(fast.s).filter((v) => v > 1e-9 * scale).length;
          const uCols = Float64Array.from({ length: m * nz }, (_, i) => fast.u[Math.floor(i / nz) * r + (i % nz)] as number);
          expect(orthoErrorCols(uCols, m, nz)).toBeLessThan(1e-9);
          expect(orthoErrorRows(fast.vh.slice(0, nz * n), nz, n)).toBeLessThan(1e-9);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("refuses an inner rank that is not below both sides", () => {
    expect(() => svdOfProduct(new Float64Array(9), new Float64Array(9), 3, 3, 3)).toThrow("must be below min(3, 3)");
  });
});

describe("task merges (PEFT's merge_utils)", () => {
  const t1 = Float32Array.from([1, -2, 3, -4]);
  const t2 = Float32Array.from([-1, 1, 2, 5]);

  it("task arithmetic is Σ wᵢtᵢ", () => {
    expect(Array.from(TM.taskArithmetic([t1, t2], [2, 1]))).toEqual([1, -3, 8, -3]);
  });

  it("magnitude pruning keeps the ⌊density·n⌋ largest entries", () => {
    expect(Array.from(TM.magnitudePruned(t1, 0.5))).toEqual([0, 0, 3, -4]);
    expect(Array.from(TM.magnitudePruned(t1, 0))).toEqual([0, 0, 0, 0]);
    expect(TM.magnitudePruned(t1, 1)).toBe(t1);
  });

  it("ties: prune, elect the sign of the sum, average the agreeing weighted entries", () => {
    // pruned (density 0.5): t1 → [0, 0, 3, -4], t2 → [0, 0, 2, 5]; sums [0, 0, 5, 1] → signs [+, +, +, +]
    // entry 2: (3 + 2)/2; entry 3: only t2 agrees → 5; zeros never agree (sign 0)
    expect(Array.from(TM.ties([t1, t2], [1, 1], 0.5, "total"))).toEqual([0, 0, 2.5, 5]);
    // frequency: entry 3 has one + and one − → + wins ties
    expect(Array.from(TM.ties([t1, t2], [1, 1], 0.5, "frequency"))).toEqual([0, 0, 2.5, 5]);
  });

  it("DARE keeps each entry with probability density, rescaled; the same seed gives the same mask", () => {
    const big = new Float32Array(20000).fill(1);
    const kept = TM.randomPruned(big, 0.3, TM.seededUniform(1));
    const frac = kept.filter((v) => v !== 0).length / big.length;
    expect(Math.abs(frac - 0.3)).toBeLessThan(0.02);
    expect(kept.every((v) => v === 0 || Math.abs(v - 1 / 0.3) < 1e-6)).toBe(true);
    expect(TM.randomPruned(big, 0.3, TM.seededUniform(1))).toEqual(kept);
  });

  it("quantile interpolates linearly as torch.quantile", () => {
    expect(TM.quantile([3, 1, 2, 4], 0.5)).toBe(2.5);
    expect(TM.quantile([3, 1, 2, 4], 1)).toBe(4);
    expect(TM.quantile([3, 1, 2, 4], 0.1)).toBeCloseTo(1.3, 12);
  });
});
