import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addGrads, disposeParams, scaleGrads, type Params } from "../../src/train/index.js";
import { noLeaks, values } from "./helpers.js";

describe("addGrads / scaleGrads", () => {
  it("adds key-wise; a key on one side only is copied", () =>
    noLeaks(() => {
      const a = { x: tf.tensor1d([1, 2]), y: tf.scalar(5) };
      const b = { x: tf.tensor1d([10, 20]), z: tf.scalar(-1) };
      const s = addGrads(a, b);
      expect(Object.keys(s).sort()).toEqual(["x", "y", "z"]);
      expect(values(s["x"] as tf.Tensor)).toEqual([11, 22]);
      expect(values(s["y"] as tf.Tensor)).toEqual([5]);
      expect(values(s["z"] as tf.Tensor)).toEqual([-1]);
      expect(s["y"]).not.toBe(a.y);
      disposeParams(a);
      disposeParams(b);
      disposeParams(s);
    }));

  it("accumulating k micro-batches then scaling by 1/k gives their mean", () =>
    noLeaks(() => {
      fc.assert(
        fc.property(
          fc.array(fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 3, maxLength: 3 }), {
            minLength: 1,
            maxLength: 6,
          }),
          (batches) => {
            let acc: Params = {};
            for (const b of batches) {
              const g = { w: tf.tensor1d(b) };
              const next = addGrads(acc, g);
              disposeParams(acc);
              disposeParams(g);
              acc = next;
            }
            const mean = scaleGrads(acc, 1 / batches.length);
            const got = values(mean["w"] as tf.Tensor);
            [0, 1, 2].forEach((i) => {
              const want = batches.reduce((s, b) => s + (b[i] as number), 0) / batches.length;
              expect(got[i]).toBeCloseTo(want, 4);
            });
            disposeParams(acc);
            disposeParams(mean);
          },
        ),
      );
    }));

  it("rejects mismatched shapes instead of broadcasting", () =>
    noLeaks(() => {
      const a = { x: tf.tensor1d([1, 2]) };
      const b = { x: tf.scalar(1) };
      expect(() => addGrads(a, b)).toThrow(/x: shapes/);
      disposeParams(a);
      disposeParams(b);
    }));
});
