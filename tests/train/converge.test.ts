import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import {
  adamw,
  cosineWithWarmup,
  sgd,
  type Optimizer,
  type Params,
} from "../../src/train/index.js";
import { noLeaks, optimize, values } from "./helpers.js";

// f(a, b) = Σ (a − 3)² + Σ (b + 1)² · 10: an ill-conditioned quadratic with
// its minimum at a = 3, b = −1.
const loss = (p: Params): tf.Scalar =>
  tf.add(
    tf.sum(tf.square(tf.sub(p["a"] as tf.Tensor, 3))),
    tf.mul(tf.sum(tf.square(tf.add(p["b"] as tf.Tensor, 1))), 10),
  ) as tf.Scalar;

const minimise = <S>(opt: Optimizer<S>, steps: number): { a: number[]; b: number[] } => {
  const keys = ["a", "b"];
  const gradFn = tf.grads((...xs: tf.Tensor[]) => loss(Object.fromEntries(keys.map((k, i) => [k, xs[i] as tf.Tensor]))));
  const gradsAt = (params: Params): Params => {
    const gs = gradFn(keys.map((k) => params[k] as tf.Tensor));
    return Object.fromEntries(keys.map((k, j) => [k, gs[j] as tf.Tensor]));
  };
  const seen = optimize(opt, { a: tf.tensor1d([0, 10, -5]), b: tf.tensor2d([[4, -4]]) }, steps, gradsAt, (p) => ({
    a: values(p["a"] as tf.Tensor),
    b: values(p["b"] as tf.Tensor),
  }));
  return seen[seen.length - 1] as { a: number[]; b: number[] };
};

describe("optimisers minimise a quadratic", () => {
  const check = (r: { a: number[]; b: number[] }, tol: number): void => {
    r.a.forEach((x) => expect(Math.abs(x - 3)).toBeLessThan(tol));
    r.b.forEach((x) => expect(Math.abs(x + 1)).toBeLessThan(tol));
  };

  it("adamw with a cosine schedule", () =>
    noLeaks(() =>
      check(
        minimise(adamw({ lr: cosineWithWarmup({ peak: 0.5, warmupSteps: 10, totalSteps: 400 }), weightDecay: 0 }), 400),
        1e-2,
      ),
    ));

  it("sgd with momentum", () => noLeaks(() => check(minimise(sgd({ lr: 0.01, momentum: 0.9 }), 300), 1e-3)));

  it("sgd with nesterov momentum", () =>
    noLeaks(() => check(minimise(sgd({ lr: 0.01, momentum: 0.9, nesterov: true }), 300), 1e-3)));
});
