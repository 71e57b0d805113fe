/**
 * Stochastic gradient descent with momentum, exactly as `torch.optim.SGD`
 * (maximize = false).
 */
import * as tf from "@tensorflow/tfjs-core";
import { assertSameStructure, type Params } from "../params.js";
import { learningRateAt, type LearningRate, type Optimizer } from "./types.js";

/**
 * Options of {@link sgd}; defaults are torch's.
 *
 * @example
 *   const o: SgdOptions = { lr: 0.1, momentum: 0.9, nesterov: true };
 */
export interface SgdOptions {
  readonly lr: LearningRate;
  /** Momentum factor μ; default 0 (no buffer is kept). */
  readonly momentum?: number;
  /** Dampening of the gradient entering the buffer; default 0. */
  readonly dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening = 0); default false. */
  readonly nesterov?: boolean;
  /** L2 penalty added to the gradient (coupled, as torch); default 0. */
  readonly weightDecay?: number;
}

/**
 * State of {@link sgd}: `step` = updates done so far; `momentumBuffer` holds
 * one buffer per key once that key has been updated with momentum > 0
 * (empty at init, like torch's lazily created `momentum_buffer`).
 *
 * @example
 *   const s: SgdState = sgd({ lr: 0.1, momentum: 0.9 }).init(params); // { step: 0, momentumBuffer: {} }
 */
export type SgdState = {
  readonly step: number;
  readonly momentumBuffer: Params;
};

/**
 * SGD, exactly as `torch.optim.SGD`:
 *
 *     g ← g + wd·p
 *     buf ← g                                   (first update)
 *     buf ← μ·buf + (1 − dampening)·g           (later updates)
 *     g ← nesterov ? g + μ·buf : buf            (when μ ≠ 0)
 *     p ← p − lr·g
 *
 * @example
 *   const opt = sgd({ lr: 0.1, momentum: 0.9 });
 *   const { params: p1, state: s1 } = opt.update(grads, opt.init(params), params);
 */
export const sgd = (options: SgdOptions): Optimizer<SgdState> => {
  const mu = options.momentum ?? 0;
  const dampening = options.dampening ?? 0;
  const nesterov = options.nesterov ?? false;
  const wd = options.weightDecay ?? 0;
  if (!(mu >= 0)) throw new RangeError(`sgd: momentum must be >= 0, got ${mu}`);
  if (!(wd >= 0)) throw new RangeError(`sgd: weightDecay must be >= 0, got ${wd}`);
  if (nesterov && (mu <= 0 || dampening !== 0)) {
    throw new RangeError("sgd: nesterov momentum requires momentum > 0 and dampening = 0");
  }
  return {
    init: () => ({ step: 0, momentumBuffer: {} }),
    update: (grads, state, params) => {
      assertSameStructure("sgd.update", "grads", grads, "params", params);
      const lr = learningRateAt(options.lr, state.step);
      const next = tf.tidy(() => {
        const p: Record<string, tf.Tensor> = {};
        const buf: Record<string, tf.Tensor> = {};
        for (const [k, p0] of Object.entries(params)) {
          let g = grads[k] as tf.Tensor;
          if (wd !== 0) g = tf.add(g, tf.mul(p0, wd));
          if (mu !== 0) {
            const prev = state.momentumBuffer[k];
            // clone: the buffer must be a tensor of our own, never the caller's grad
            const b = prev === undefined ? tf.clone(g) : tf.add(tf.mul(prev, mu), tf.mul(g, 1 - dampening));
            buf[k] = b;
            g = nesterov ? tf.add(g, tf.mul(b, mu)) : b;
          }
          p[k] = tf.sub(p0, tf.mul(g, lr));
        }
        return { p, buf };
      });
      return { params: next.p, state: { step: state.step + 1, momentumBuffer: next.buf } };
    },
  };
};
