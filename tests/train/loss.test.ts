import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { causalLmLoss, crossEntropy, mse } from "../../src/train/index.js";
import { noLeaks, scalarOf, values } from "./helpers.js";

// Hand example (python3 + math): logits [[1, 2, 3], [0.5, −1, 2]], labels [2, 0].
//   row 0: logsumexp(1, 2, 3) − 3 = 0.40760596444438013
//   row 1: logsumexp(0.5, −1, 2) − 0.5 = 1.7413112966571571
//   mean 1.0744586305507686, sum 2.1489172611015372
//   d mean / d logits = (softmax − onehot)/2:
//     [[0.04501528658519024, 0.12236423552739885, −0.167379522112589],
//      [−0.41235480392998164, 0.019556286635343725, 0.3927985172946379]]
const LOGITS = [
  [1, 2, 3],
  [0.5, -1, 2],
];
const ROW = [0.40760596444438013, 1.7413112966571571];
const GRAD = [
  [0.04501528658519024, 0.12236423552739885, -0.167379522112589],
  [-0.41235480392998164, 0.019556286635343725, 0.3927985172946379],
];

const closeAll = (got: number[], want: number[], digits = 5): void => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g).toBeCloseTo(want[i] as number, digits));
};

describe("crossEntropy", () => {
  it("matches the hand example for mean, sum and none", () =>
    noLeaks(() => {
      const logits = tf.tensor2d(LOGITS);
      const labels = tf.tensor1d([2, 0], "int32");
      const mean = crossEntropy(logits, labels);
      const sum = crossEntropy(logits, labels, { reduction: "sum" });
      const none = crossEntropy(logits, labels, { reduction: "none" });
      expect(scalarOf(mean)).toBeCloseTo(1.0744586305507686, 5);
      expect(scalarOf(sum)).toBeCloseTo(2.1489172611015372, 5);
      expect(none.shape).toEqual([2]);
      closeAll(values(none), ROW);
      tf.dispose([logits, labels, mean, sum, none]);
    }));

  it("gradient under tf.grad equals (softmax − onehot)/N", () =>
    noLeaks(() => {
      const logits = tf.tensor2d(LOGITS);
      const labels = tf.tensor1d([2, 0], "int32");
      const g = tf.grad((x: tf.Tensor) => crossEntropy(x, labels))(logits);
      closeAll(values(g), GRAD.flat());
      tf.dispose([logits, labels, g]);
    }));

  it("ignoreIndex drops positions from the loss, the count and the gradient", () =>
    noLeaks(() => {
      // Rows 0 and 2 are the hand example; row 1 (label −100) must not count.
      const logits = tf.tensor2d([LOGITS[0] as number[], [50, -50, 7], LOGITS[1] as number[]]);
      const labels = tf.tensor1d([2, -100, 0], "int32");
      const mean = crossEntropy(logits, labels);
      const none = crossEntropy(logits, labels, { reduction: "none" });
      const g = tf.grad((x: tf.Tensor) => crossEntropy(x, labels))(logits);
      expect(scalarOf(mean)).toBeCloseTo(1.0744586305507686, 5);
      closeAll(values(none), [ROW[0] as number, 0, ROW[1] as number]);
      closeAll(values(g), [...(GRAD[0] as number[]), 0, 0, 0, ...(GRAD[1] as number[])]);
      // a custom ignore index
      const labels7 = tf.tensor1d([2, 7, 0], "int32");
      const mean7 = crossEntropy(logits, labels7, { ignoreIndex: 7 });
      expect(scalarOf(mean7)).toBeCloseTo(1.0744586305507686, 5);
      tf.dispose([logits, labels, mean, none, g, labels7, mean7]);
    }));

  it("all positions ignored gives 0 (not NaN) and a zero gradient", () =>
    noLeaks(() => {
      const logits = tf.tensor2d(LOGITS);
      const labels = tf.tensor1d([-100, -100], "int32");
      const loss = crossEntropy(logits, labels);
      const g = tf.grad((x: tf.Tensor) => crossEntropy(x, labels))(logits);
      expect(scalarOf(loss)).toBe(0);
      expect(values(g)).toEqual([0, 0, 0, 0, 0, 0]);
      tf.dispose([logits, labels, loss, g]);
    }));

  it("accepts [B, T, C] logits with [B, T] labels", () =>
    noLeaks(() => {
      const logits = tf.tensor3d([LOGITS]); // [1, 2, 3]
      const labels = tf.tensor2d([[2, 0]], [1, 2], "int32");
      const none = crossEntropy(logits, labels, { reduction: "none" });
      expect(none.shape).toEqual([1, 2]);
      closeAll(values(none), ROW);
      tf.dispose([logits, labels, none]);
    }));

  it("is stable for huge logits", () =>
    noLeaks(() => {
      // logsumexp(1000, 0, −1000) − 0 = 1000 (to double precision)
      const logits = tf.tensor2d([[1000, 0, -1000]]);
      const labels = tf.tensor1d([1], "int32");
      const loss = crossEntropy(logits, labels);
      expect(scalarOf(loss)).toBeCloseTo(1000, 3);
      tf.dispose([logits, labels, loss]);
    }));

  it("a −∞ logit on a class that is not the label does not produce NaN", () =>
    noLeaks(() => {
      // logsumexp(0, 0, −∞) − 0 = ln 2
      const logits = tf.tensor2d([[0, 0, -Infinity]]);
      const labels = tf.tensor1d([0], "int32");
      const loss = crossEntropy(logits, labels);
      expect(scalarOf(loss)).toBeCloseTo(Math.LN2, 6);
      tf.dispose([logits, labels, loss]);
    }));

  it("rejects out-of-range labels, float labels and shape mismatches", () =>
    noLeaks(() => {
      const logits = tf.tensor2d(LOGITS);
      const bad = tf.tensor1d([3, 0], "int32");
      const float = tf.tensor1d([2, 0]);
      const short = tf.tensor1d([2], "int32");
      expect(() => crossEntropy(logits, bad)).toThrow(/label 3 is outside \[0, 3\)/);
      expect(() => crossEntropy(logits, float)).toThrow(/int32/);
      expect(() => crossEntropy(logits, short)).toThrow(/labels shape/);
      tf.dispose([logits, bad, float, short]);
    }));
});

describe("causalLmLoss", () => {
  it("scores logits[:, :-1] against labels[:, 1:]", () =>
    noLeaks(() => {
      // Positions 0 and 1 carry the hand example and predict labels[1] = 2 and
      // labels[2] = 0; the last position's logits are never scored (they are
      // wild on purpose), nor is labels[0].
      const logits = tf.tensor3d([[LOGITS[0] as number[], LOGITS[1] as number[], [100, -100, 0]]]);
      const labels = tf.tensor2d([[1, 2, 0]], [1, 3], "int32");
      const loss = causalLmLoss(logits, labels);
      const g = tf.grad((x: tf.Tensor) => causalLmLoss(x, labels))(logits);
      expect(scalarOf(loss)).toBeCloseTo(1.0744586305507686, 5);
      closeAll(values(g), [...GRAD.flat(), 0, 0, 0]);
      tf.dispose([logits, labels, loss, g]);
    }));

  it("respects ignoreIndex in the shifted labels", () =>
    noLeaks(() => {
      const logits = tf.tensor3d([[LOGITS[0] as number[], LOGITS[1] as number[], [0, 0, 0]]]);
      const labels = tf.tensor2d([[1, 2, -100]], [1, 3], "int32");
      const loss = causalLmLoss(logits, labels);
      expect(scalarOf(loss)).toBeCloseTo(ROW[0] as number, 5);
      tf.dispose([logits, labels, loss]);
    }));
});

describe("mse", () => {
  it("mean, sum and gradient 2(pred − target)/n", () =>
    noLeaks(() => {
      // (1−0)² + (2−0)² + (−1−1)² = 1 + 4 + 4 = 9; mean 3; grad 2·[1, 2, −2]/3
      const pred = tf.tensor1d([1, 2, -1]);
      const target = tf.tensor1d([0, 0, 1]);
      const mean = mse(pred, target);
      const sum = mse(pred, target, { reduction: "sum" });
      const g = tf.grad((x: tf.Tensor) => mse(x, target))(pred);
      expect(scalarOf(mean)).toBeCloseTo(3, 6);
      expect(scalarOf(sum)).toBeCloseTo(9, 6);
      closeAll(values(g), [2 / 3, 4 / 3, -4 / 3]);
      tf.dispose([pred, target, mean, sum, g]);
    }));

  it("refuses to broadcast", () =>
    noLeaks(() => {
      const a = tf.tensor1d([1, 2]);
      const b = tf.scalar(1);
      expect(() => mse(a, b)).toThrow(/differs/);
      tf.dispose([a, b]);
    }));
});
