/**
 * The training loop: differentiate a loss with respect to the trainable
 * leaves of a tree only (frozen weights are constants: no gradient buffers),
 * apply a pure optimizer, report progress, evaluate, stop early, and free
 * every intermediate tensor — across thousands of steps.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import { combine, partition } from "../tree/params.js";
import { addGrads, scaleGrads } from "./accumulate.js";
import { clipByGlobalNorm } from "./clip.js";
import { disposeState, type Optimizer } from "./optim/types.js";
import type { Params } from "./params.js";
import { progressBar, type Progress } from "./progress.js";

export interface TrainOptions<B, S> {
  readonly optimizer: Optimizer<S>;
  /** The loss of a model on a batch (a scalar). The model has the current trainable params. */
  readonly loss: (model: Node, batch: B) => tf.Scalar;
  /** Number of optimizer steps (default: until the batches run out). */
  readonly steps?: number;
  /** Micro-batches per optimizer step; gradients are averaged. Default 1. */
  readonly gradientAccumulation?: number;
  /** Clip gradients to this global L2 norm (torch's `clip_grad_norm_`). */
  readonly maxGradNorm?: number;
  /** Evaluate every `every` steps; lower is better. */
  readonly evaluate?: { readonly every: number; readonly fn: (model: Node) => number | Promise<number> };
  /** Stop when the evaluation has not improved by `minDelta` for `patience` evaluations. */
  readonly earlyStop?: { readonly patience: number; readonly minDelta?: number };
  /** Progress callback (default: a terminal progress bar on stderr; `false` for none). */
  readonly onProgress?: ((p: Progress) => void) | false;
}

export interface TrainResult {
  /** The tree with trained params (the input tree is left as it was). */
  readonly model: Node;
  /** Loss per optimizer step. */
  readonly losses: ReadonlyArray<number>;
  /** Evaluations as [step, value]. */
  readonly evaluations: ReadonlyArray<readonly [number, number]>;
  readonly stoppedBy: "steps" | "data" | "earlyStop";
}

/**
 * The loss of `tree` on a batch and its gradients with respect to `params`
 * (the trainable leaves, by state-dict key) — and nothing else: frozen
 * weights enter as constants. Returns new gradient tensors; disposes nothing.
 *
 * @example
 *   const { loss, grads } = lossAndGrads(model, partition(model).trainable, batch, lossFn)
 */
export const lossAndGrads = <B>(
  tree: Node,
  params: Params,
  batch: B,
  loss: (model: Node, batch: B) => tf.Scalar,
): { readonly loss: number; readonly grads: Params } => {
  const keys = Object.keys(params);
  const f = (...xs: tf.Tensor[]): tf.Scalar => loss(combine(tree, Object.fromEntries(keys.map((k, i) => [k, xs[i] as tf.Tensor]))), batch);
  const { value, grads } = tf.valueAndGrads(f)(keys.map((k) => params[k] as tf.Tensor));
  const v = value.dataSync()[0] as number;
  value.dispose();
  return { loss: v, grads: Object.fromEntries(keys.map((k, i) => [k, grads[i] as tf.Tensor])) };
};

type Batches<B> = Iterable<B> | AsyncIterable<B>;

const iterate = <B>(b: Batches<B>): AsyncIterator<B> | Iterator<B> =>
  Symbol.asyncIterator in (b as object) ? (b as AsyncIterable<B>)[Symbol.asyncIterator]() : (b as Iterable<B>)[Symbol.iterator]();

/**
 * Train the trainable leaves of `tree` (adapter params after `inject`).
 * Pure at its boundary: the input tree keeps its tensors; the result holds
 * new ones for every trained leaf and shares the rest.
 *
 * @example
 *   const { model, losses } = await train(adapted, batches, {
 *     optimizer: adamw({ lr: 1e-3 }),
 *     loss: (m, b) => crossEntropy(apply(m, b.x, { training: true }), b.y) as tf.Scalar,
 *     steps: 200,
 *   })
 */
export const train = async <B, S>(tree: Node, batches: Batches<B>, options: TrainOptions<B, S>): Promise<TrainResult> => {
  const { trainable } = partition(tree);
  if (Object.keys(trainable).length === 0) throw new Error("train: the tree has no trainable params (inject an adapter or setTrainable first)");
  const accumulate = Math.max(1, options.gradientAccumulation ?? 1);
  const report = options.onProgress === false ? undefined : (options.onProgress ?? progressBar());
  const inputs = new Set(Object.values(trainable));
  let params: Params = trainable;
  let state = options.optimizer.init(params);
  const losses: number[] = [];
  const evaluations: Array<readonly [number, number]> = [];
  let best = Infinity;
  let sinceBest = 0;
  let stoppedBy: TrainResult["stoppedBy"] = "data";
  const it = iterate(batches);
  const started = performance.now();
  const freeParams = (p: Params) => {
    for (const t of Object.values(p)) if (!inputs.has(t)) t.dispose();
  };

  const gradsOf = (batch: B) => lossAndGrads(tree, params, batch, options.loss);

  for (let step = 0; options.steps === undefined || step < options.steps; step++) {
    let acc: Params | undefined;
    let lossSum = 0;
    let got = 0;
    for (let micro = 0; micro < accumulate; micro++) {
      const next = await it.next();
      if (next.done === true) break;
      const { loss, grads } = gradsOf(next.value);
      lossSum += loss;
      got++;
      if (acc === undefined) acc = grads;
      else {
        const sum = addGrads(acc, grads);
        Object.values(acc).forEach((t) => t.dispose());
        Object.values(grads).forEach((t) => t.dispose());
        acc = sum;
      }
    }
    if (acc === undefined || got === 0) break;
    let grads = acc;
    if (got > 1) {
      grads = scaleGrads(acc, 1 / got);
      Object.values(acc).forEach((t) => t.dispose());
    }
    if (options.maxGradNorm !== undefined) {
      const clipped = clipByGlobalNorm(grads, options.maxGradNorm).grads;
      Object.values(grads).forEach((t) => t.dispose());
      grads = clipped;
    }
    const next = options.optimizer.update(grads, state, params);
    Object.values(grads).forEach((t) => t.dispose());
    freeParams(params);
    disposeState(state);
    params = next.params;
    state = next.state;
    const loss = lossSum / got;
    losses.push(loss);

    let evalValue: number | undefined;
    if (options.evaluate !== undefined && (step + 1) % options.evaluate.every === 0) {
      evalValue = await options.evaluate.fn(combine(tree, params));
      evaluations.push([step + 1, evalValue]);
      if (evalValue < best - (options.earlyStop?.minDelta ?? 0)) {
        best = evalValue;
        sinceBest = 0;
      } else sinceBest++;
    }
    const elapsed = (performance.now() - started) / 1000;
    const done = step + 1;
    report?.({
      step: done,
      totalSteps: options.steps,
      loss,
      stepsPerSecond: done / elapsed,
      etaSeconds: options.steps === undefined ? undefined : ((options.steps - done) * elapsed) / done,
      evaluation: evalValue,
    });
    if (options.earlyStop !== undefined && sinceBest >= options.earlyStop.patience) {
      stoppedBy = "earlyStop";
      break;
    }
    if (options.steps !== undefined && done === options.steps) stoppedBy = "steps";
  }
  disposeState(state);
  await it.return?.();
  report?.({ step: losses.length, totalSteps: options.steps, loss: losses[losses.length - 1] ?? NaN, stepsPerSecond: 0, done: true });
  return { model: combine(tree, params), losses, evaluations, stoppedBy };
};
