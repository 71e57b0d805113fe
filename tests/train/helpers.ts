import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";

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
