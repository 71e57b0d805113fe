/** Shared helpers of the model tests: a context with every kind, tolerance checks. */
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";
import { extendKinds, type Ctx } from "../../src/nn/registry.js";
import { nnKinds } from "../../src/nn/index.js";
import { modelKinds } from "../../src/models/index.js";

/** nn + model kinds (tuner kinds are not needed for base models). */
export const kinds = extendKinds(nnKinds, ...modelKinds.values());

/** An eval-mode context with side inputs. */
export const ctxOf = (side: Record<string, unknown> = {}, training = false): Ctx => ({ ...side, kinds, training });

/** The right of an Either, or fail with the left's message. */
export const unwrap = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message);
  return e.right;
};

/** |got − exp| ≤ atol + rtol·|exp| elementwise; reports the worst element. */
export const expectClose = (got: tf.Tensor, exp: tf.Tensor, atol = 1e-4, rtol = 1e-4): void => {
  expect(got.shape).toEqual(exp.shape);
  const g = got.dataSync();
  const x = exp.dataSync();
  let worst = 0;
  let at = -1;
  for (let i = 0; i < g.length; i++) {
    const excess = Math.abs((g[i] as number) - (x[i] as number)) - (atol + rtol * Math.abs(x[i] as number));
    if (!(excess <= worst)) {
      worst = excess;
      at = i;
    }
  }
  expect(at === -1 ? "ok" : `index ${at}: got ${g[at]}, expected ${x[at]}`).toBe("ok");
};

/** Max |a − b|. */
export const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
