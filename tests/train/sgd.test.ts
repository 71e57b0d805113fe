import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { sgd, type SgdOptions } from "../../src/train/index.js";
import { noLeaks, optimize, scalarOf } from "./helpers.js";

/** Run SGD over gradient values for one scalar parameter; return [buffer, p] after each step. */
const trajectory = (o: SgdOptions, p0: number, gs: readonly number[]): Array<[number | undefined, number]> =>
  optimize(
    sgd(o),
    { w: tf.scalar(p0) },
    gs.length,
    (_p, i) => ({ w: tf.scalar(gs[i] as number) }),
    (p, state): [number | undefined, number] => {
      const buf = state.momentumBuffer["w"];
      return [buf === undefined ? undefined : scalarOf(buf), scalarOf(p["w"] as tf.Tensor)];
    },
  );

describe("sgd", () => {
  it("plain SGD: p ← p − lr·g", () =>
    noLeaks(() => {
      // 1 − 0.1·1 = 0.9; 0.9 − 0.1·0.5 = 0.85; 0.85 + 0.1 = 0.95
      const out = trajectory({ lr: 0.1 }, 1, [1, 0.5, -1]);
      expect(out.map(([b]) => b)).toEqual([undefined, undefined, undefined]);
      out.forEach(([, p], i) => expect(p).toBeCloseTo([0.9, 0.85, 0.95][i] as number, 6));
    }));

  it("momentum with dampening and weight decay matches torch.optim.SGD by hand", () =>
    noLeaks(() => {
      // lr 0.1, μ 0.9, dampening 0.1, wd 0.01, p0 = 1, grads 1, 0.5, −1.
      // t1: g = 1 + 0.01·1 = 1.01; buf = g (no dampening on the first step) = 1.01; p = 1 − 0.101 = 0.899
      // t2: g = 0.5 + 0.00899 = 0.50899; buf = 0.9·1.01 + 0.9·0.50899 = 1.367091; p = 0.899 − 0.1367091 = 0.7622909
      // t3: g = −1 + 0.007622909 = −0.992377091; buf = 0.9·1.367091 + 0.9·g = 0.3372425181; p = 0.72856664819
      const out = trajectory({ lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }, 1, [1, 0.5, -1]);
      const expected: Array<[number, number]> = [
        [1.01, 0.899],
        [1.367091, 0.7622909],
        [0.3372425181, 0.72856664819],
      ];
      out.forEach(([b, p], i) => {
        const [eb, ep] = expected[i] as [number, number];
        expect(b).toBeCloseTo(eb, 5);
        expect(p).toBeCloseTo(ep, 6);
      });
    }));

  it("nesterov momentum matches a hand computation", () =>
    noLeaks(() => {
      // lr 0.1, μ 0.9, grads 1, 0.5, −1, p0 = 1.
      // t1: buf = 1;               step = g + μ·buf = 1.9;   p = 0.81
      // t2: buf = 0.9 + 0.5 = 1.4; step = 0.5 + 1.26 = 1.76; p = 0.634
      // t3: buf = 1.26 − 1 = 0.26; step = −1 + 0.234 = −0.766; p = 0.7106
      const out = trajectory({ lr: 0.1, momentum: 0.9, nesterov: true }, 1, [1, 0.5, -1]);
      out.forEach(([b, p], i) => {
        expect(b).toBeCloseTo([1, 1.4, 0.26][i] as number, 5);
        expect(p).toBeCloseTo([0.81, 0.634, 0.7106][i] as number, 6);
      });
    }));

  it("rejects nesterov without momentum or with dampening", () => {
    expect(() => sgd({ lr: 0.1, nesterov: true })).toThrow(RangeError);
    expect(() => sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5, nesterov: true })).toThrow(RangeError);
  });
});
