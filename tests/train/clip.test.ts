import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { clipByGlobalNorm, disposeParams, globalNorm } from "../../src/train/index.js";
import { noLeaks, values } from "./helpers.js";

describe("globalNorm / clipByGlobalNorm", () => {
  it("global norm over several tensors", () =>
    noLeaks(() => {
      // sqrt(3² + 4² + 12²) = 13
      const g = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
      expect(globalNorm(g)).toBeCloseTo(13, 5);
      expect(globalNorm({})).toBe(0);
      disposeParams(g);
    }));

  it("scales by maxNorm/(norm + 1e-6) when the norm is too large", () =>
    noLeaks(() => {
      // norm 13, maxNorm 1: scale = 1/(13 + 1e-6) = 0.07692307100591762
      // → a = [0.23076921301775286, 0.3076922840236705], b = [[0.9230768520710114]]
      const g = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
      const { grads, norm } = clipByGlobalNorm(g, 1);
      expect(norm).toBeCloseTo(13, 5);
      values(grads["a"] as tf.Tensor).forEach((x, i) =>
        expect(x).toBeCloseTo([0.23076921301775286, 0.3076922840236705][i] as number, 6),
      );
      expect(values(grads["b"] as tf.Tensor)[0]).toBeCloseTo(0.9230768520710114, 6);
      expect(grads["b"]?.shape).toEqual([1, 1]);
      expect(values(g.a)).toEqual([3, 4]); // input untouched
      disposeParams(g);
      disposeParams(grads);
    }));

  it("keeps torch's 1e-6 in the denominator (visible for tiny norms)", () =>
    noLeaks(() => {
      // norm 5e-7, maxNorm 1e-7: scale = 1e-7/(5e-7 + 1e-6) = 0.0666…
      // → [2e-8, 2.6666666666666667e-8] (without the 1e-6 it would be [6e-8, 8e-8])
      const g = { a: tf.tensor1d([3e-7, 4e-7]) };
      const { grads, norm } = clipByGlobalNorm(g, 1e-7);
      expect(norm / 5e-7).toBeCloseTo(1, 5);
      const got = values(grads["a"] as tf.Tensor);
      expect((got[0] as number) / 2e-8).toBeCloseTo(1, 5);
      expect((got[1] as number) / 2.6666666666666667e-8).toBeCloseTo(1, 5);
      disposeParams(g);
      disposeParams(grads);
    }));

  it("leaves gradients unchanged (as new tensors) when under the limit", () =>
    noLeaks(() => {
      const g = { a: tf.tensor1d([3, 4]) };
      const { grads, norm } = clipByGlobalNorm(g, 5.5);
      expect(norm).toBeCloseTo(5, 5);
      expect(grads["a"]).not.toBe(g.a);
      expect(values(grads["a"] as tf.Tensor)).toEqual([3, 4]);
      disposeParams(g);
      disposeParams(grads);
    }));

  it("rejects a negative maxNorm", () => {
    expect(() => clipByGlobalNorm({}, -1)).toThrow(RangeError);
  });
});
