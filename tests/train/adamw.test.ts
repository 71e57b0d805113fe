import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { adam, adamw, disposeParams, disposeState } from "../../src/train/index.js";
import { noLeaks, optimize, scalarOf, values } from "./helpers.js";

/** Run `opt` over a list of gradient values for one scalar parameter; return p after each step. */
const trajectory = (opt: ReturnType<typeof adamw>, p0: number, gs: readonly number[]): number[] =>
  optimize(opt, { w: tf.scalar(p0) }, gs.length, (_p, i) => ({ w: tf.scalar(gs[i] as number) }), (p) => scalarOf(p["w"] as tf.Tensor));

describe("adamw", () => {
  it("matches a hand computation of torch.optim.AdamW over three steps", () =>
    noLeaks(() => {
      // p0 = 1, grads 0.5, -0.2, 0.8; lr = 0.1, betas (0.9, 0.999), eps = 1e-8, wd = 0.1.
      // Step 1 by hand: p = 1·(1 − 0.1·0.1) = 0.99; m = 0.05, v = 0.00025;
      //   m/(1−0.9) = 0.5, sqrt(v)/sqrt(1−0.999) = 0.5, so p = 0.99 − 0.1·0.5/(0.5 + 1e-8) = 0.890000002.
      // Steps 2 and 3 with python3 + math, same recurrences (torch's AdamW docs):
      //   t=2: m = 0.025,  v = 0.00028975,   p = 0.8465394180965108
      //   t=3: m = 0.1025, v = 0.00092946025, p = 0.7701563818152914
      const ps = trajectory(adamw({ lr: 0.1, weightDecay: 0.1 }), 1, [0.5, -0.2, 0.8]);
      expect(ps[0]).toBeCloseTo(0.890000002, 6);
      expect(ps[1]).toBeCloseTo(0.8465394180965108, 6);
      expect(ps[2]).toBeCloseTo(0.7701563818152914, 6);
    }));

  it("reads a schedule at the update index, starting from 0", () =>
    noLeaks(() => {
      // lr(step) = 0.1·(step + 1) gives lr 0.1, 0.2, 0.3 at updates 1..3 (wd = 0).
      // python3 + math: p = 0.900000002, 0.8308788342330217, 0.6271259079322591
      const ps = trajectory(adamw({ lr: (s) => 0.1 * (s + 1), weightDecay: 0 }), 1, [0.5, -0.2, 0.8]);
      expect(ps[0]).toBeCloseTo(0.900000002, 6);
      expect(ps[1]).toBeCloseTo(0.8308788342330217, 6);
      expect(ps[2]).toBeCloseTo(0.6271259079322591, 6);
    }));

  it("first step moves every coordinate by ≈ lr·sign(g) when weight decay is 0", () =>
    noLeaks(() => {
      const coord = fc.record({
        p: fc.float({ min: -10, max: 10, noNaN: true }),
        g: fc.oneof(fc.float({ min: Math.fround(1e-3), max: 1e3, noNaN: true }), fc.float({ min: -1e3, max: Math.fround(-1e-3), noNaN: true })),
      });
      fc.assert(
        fc.property(
          fc.array(coord, { minLength: 1, maxLength: 8 }),
          fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
          (coords, lr) => {
            const params = { w: tf.tensor1d(coords.map((c) => c.p)) };
            const grads = { w: tf.tensor1d(coords.map((c) => c.g)) };
            const opt = adam({ lr });
            const state = opt.init(params);
            const next = opt.update(grads, state, params);
            const before = values(params.w);
            const after = values(next.params["w"] as tf.Tensor);
            disposeParams(params);
            disposeParams(grads);
            disposeState(state);
            disposeState(next.state);
            disposeParams(next.params);
            coords.forEach((c, i) => {
              const moved = (after[i] as number) - (before[i] as number);
              // float32 rounding of p (|p| ≤ 10) is ~1e-6; |eps/g| ≤ 1e-5 relative
              expect(Math.abs(moved + lr * Math.sign(c.g))).toBeLessThan(2e-6 + 1e-4 * lr);
            });
          },
        ),
        { numRuns: 100 },
      );
    }));

  it("returns new tensors and leaves its inputs alive and unchanged", () =>
    noLeaks(() => {
      const params = { a: tf.tensor1d([1, 2]), b: tf.tensor2d([[3]]) };
      const grads = { a: tf.tensor1d([0.1, -0.1]), b: tf.tensor2d([[1]]) };
      const opt = adamw({ lr: 0.01 });
      const s0 = opt.init(params);
      const { params: p1, state: s1 } = opt.update(grads, s0, params);
      for (const k of ["a", "b"] as const) {
        expect(p1[k]).not.toBe(params[k]);
        expect(s1.m[k]).not.toBe(s0.m[k]);
        expect(params[k].isDisposed).toBe(false);
        expect(grads[k].isDisposed).toBe(false);
      }
      expect(values(params.a)).toEqual([1, 2]);
      expect(values(s0.m["a"] as tf.Tensor)).toEqual([0, 0]);
      expect(s0.step).toBe(0);
      expect(s1.step).toBe(1);
      disposeParams(params);
      disposeParams(grads);
      disposeParams(p1);
      disposeState(s0);
      disposeState(s1);
    }));

  it("rejects gradients whose keys or shapes differ from the parameters", () =>
    noLeaks(() => {
      const params = { a: tf.tensor1d([1, 2]) };
      const opt = adamw({ lr: 0.01 });
      const s0 = opt.init(params);
      const extra = { a: tf.tensor1d([1, 1]), b: tf.scalar(1) };
      const wrongShape = { a: tf.tensor1d([1, 1, 1]) };
      expect(() => opt.update(extra, s0, params)).toThrow(/only in grads: b/);
      expect(() => opt.update(wrongShape, s0, params)).toThrow(/a: grads has shape \[3\]/);
      expect(() => opt.update({}, s0, params)).toThrow(/only in params: a/);
      disposeParams(params);
      disposeParams(extra);
      disposeParams(wrongShape);
      disposeState(s0);
    }));

  it("rejects invalid hyper-parameters and learning rates", () => {
    expect(() => adamw({ lr: 0.1, betas: [1, 0.999] })).toThrow(RangeError);
    expect(() => adamw({ lr: 0.1, weightDecay: -1 })).toThrow(RangeError);
    const params = { a: tf.scalar(1) };
    const opt = adamw({ lr: () => Number.NaN });
    const s0 = opt.init(params);
    expect(() => opt.update(params, s0, params)).toThrow(/learning rate/);
    disposeParams(params);
    disposeState(s0);
  });
});
