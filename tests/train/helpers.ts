import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";
import { disposeParams, disposeState, type Optimizer, type Params } from "../../src/train/index.js";

/** Run `body`, then assert the live tensor count is back to where it started. */
export const noLeaks = async (body: () => void | Promise<void>): Promise<void> => {
  const before = tf.memory().numTensors;
  await body();
  expect(tf.memory().numTensors).toBe(before);
};

/** The values of a tensor as a plain array (reads back synchronously). */
export const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

/** The single value of a one-element tensor. */
export const scalarOf = (t: tf.Tensor): number => {
  const v = t.dataSync()[0];
  if (v === undefined) throw new Error("empty tensor");
  return v;
};

/**
 * Run an optimizer from `p0` (which it takes ownership of) for `steps`
 * updates with the gradients `gradsAt(params, i)`; after each update record
 * `observe(params, state)`. Frees every tensor it made and the last params.
 */
export const optimize = <S, R>(
  opt: Optimizer<S>,
  p0: Params,
  steps: number,
  gradsAt: (params: Params, i: number) => Params,
  observe: (params: Params, state: S) => R,
): R[] => {
  let params = p0;
  let state = opt.init(params);
  const out: R[] = [];
  for (let i = 0; i < steps; i++) {
    const grads = gradsAt(params, i);
    const next = opt.update(grads, state, params);
    disposeParams(grads);
    disposeParams(params);
    disposeState(state);
    params = next.params;
    state = next.state;
    out.push(observe(params, state));
  }
  disposeParams(params);
  disposeState(state);
  return out;
};
