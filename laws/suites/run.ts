/**
 * What every law suite shares: the run options (runs, seed) as fast-check
 * parameters, and the leak-counted run of one case.
 */
import type * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";

/** How many runs, and a fixed seed to replay a failure. */
export interface RunOptions {
  /** Runs per law. Default 25. */
  readonly numRuns?: number;
  readonly seed?: number;
}

export const params = (o: RunOptions): fc.Parameters<unknown> => ({
  numRuns: o.numRuns ?? 25,
  ...(o.seed === undefined ? {} : { seed: o.seed }),
});

/** Run `f`, then check the tensor count came back; throw on a failed law or a leak. */
export const counted = (what: string, f: () => string | undefined): true => {
  const before = tf.memory().numTensors;
  const failed = f();
  if (failed !== undefined) throw new Error(`${what}: ${failed}`);
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${what}: leaked ${after - before} tensors (${before} → ${after})`);
  return true;
};
