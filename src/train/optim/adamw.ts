/**
 * AdamW and Adam, with exactly the update of `torch.optim.AdamW`
 * (amsgrad = false, maximize = false).
 */
import * as tf from "@tensorflow/tfjs-core";
import { adamwNative } from "../../backend/native-pointwise.js";
import { assertSameStructure, mapParams, type Params } from "../params.js";
import { learningRateAt, type LearningRate, type Optimizer } from "./types.js";

/**
 * Options of {@link adamw}; defaults are torch's.
 *
 * @example
 *   const o: AdamWOptions = { lr: 3e-4, betas: [0.9, 0.95], weightDecay: 0.1 };
 */
export interface AdamWOptions {
  readonly lr: LearningRate;
  /** Decay rates of the first and second moments; default `[0.9, 0.999]`. */
  readonly betas?: readonly [number, number];
  /** Added to the bias-corrected RMS; default `1e-8`. */
  readonly eps?: number;
  /** Decoupled weight decay; default `0.01` (torch's AdamW default). */
  readonly weightDecay?: number;
}

/**
 * State of {@link adamw}: `step` = number of updates done so far, and the
 * first (`m`, torch's `exp_avg`) and second (`v`, `exp_avg_sq`) moments.
 *
 * @example
 *   const s: AdamWState = adamw({ lr: 1e-3 }).init(params); // s.step === 0
 */
export type AdamWState = {
  readonly step: number;
  readonly m: Params;
  readonly v: Params;
};

const checkOptions = (b1: number, b2: number, eps: number, wd: number): void => {
  if (!(b1 >= 0 && b1 < 1)) throw new RangeError(`adamw: betas[0] must be in [0, 1), got ${b1}`);
  if (!(b2 >= 0 && b2 < 1)) throw new RangeError(`adamw: betas[1] must be in [0, 1), got ${b2}`);
  if (!(eps >= 0)) throw new RangeError(`adamw: eps must be >= 0, got ${eps}`);
  if (!(wd >= 0)) throw new RangeError(`adamw: weightDecay must be >= 0, got ${wd}`);
};

/**
 * AdamW (Loshchilov & Hutter), exactly as `torch.optim.AdamW`. With update
 * index t = 1, 2, … and learning rate `lr` (the schedule read at t − 1):
 *
 *     p ← p·(1 − lr·wd)                                (decoupled decay, first)
 *     m ← β1·m + (1 − β1)·g
 *     v ← β2·v + (1 − β2)·g²
 *     p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
 *
 * @example
 *   const opt = adamw({ lr: 1e-3, weightDecay: 0.01 });
 *   const state0 = opt.init(params);
 *   const { params: p1, state: state1 } = opt.update(grads, state0, params);
 */
export const adamw = (options: AdamWOptions): Optimizer<AdamWState> => {
  const [b1, b2] = options.betas ?? [0.9, 0.999];
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? 0.01;
  checkOptions(b1, b2, eps, wd);
  return {
    init: (params) =>
      tf.tidy(() => ({
        step: 0,
        m: mapParams(params, (p) => tf.zerosLike(p)),
        v: mapParams(params, (p) => tf.zerosLike(p)),
      })),
    update: (grads, state, params) => {
      assertSameStructure("adamw.update", "grads", grads, "params", params);
      assertSameStructure("adamw.update", "state.m", state.m, "params", params);
      assertSameStructure("adamw.update", "state.v", state.v, "params", params);
      const lr = learningRateAt(options.lr, state.step);
      const t = state.step + 1;
      const stepSize = lr / (1 - b1 ** t);
      const bc2Sqrt = Math.sqrt(1 - b2 ** t);
      const decay = 1 - lr * wd;
      const next = tf.tidy(() => {
        const p: Record<string, tf.Tensor> = {};
        const m: Record<string, tf.Tensor> = {};
        const v: Record<string, tf.Tensor> = {};
        for (const [k, p0] of Object.entries(params)) {
          // Presence is guaranteed by assertSameStructure above.
          const g = grads[k] as tf.Tensor;
          const fused = adamwNative(p0, g, state.m[k] as tf.Tensor, state.v[k] as tf.Tensor, {
            decay: wd === 0 ? 1 : decay, b1, c1: 1 - b1, b2, c2: 1 - b2, stepSize, bc2Sqrt, eps,
          });
          if (fused !== undefined) {
            [p[k], m[k], v[k]] = fused;
            continue;
          }
          const decayed = wd === 0 ? p0 : tf.mul(p0, decay);
          const mk = tf.add(tf.mul(state.m[k] as tf.Tensor, b1), tf.mul(g, 1 - b1));
          const vk = tf.add(tf.mul(state.v[k] as tf.Tensor, b2), tf.mul(tf.square(g), 1 - b2));
          const denom = tf.add(tf.div(tf.sqrt(vk), bc2Sqrt), eps);
          p[k] = tf.sub(decayed, tf.mul(tf.div(mk, denom), stepSize));
          m[k] = mk;
          v[k] = vk;
        }
        return { p, m, v };
      });
      return { params: next.p, state: { step: t, m: next.m, v: next.v } };
    },
  };
};

/**
 * Options of {@link adam}: those of {@link adamw} without weight decay.
 *
 * @example
 *   const o: AdamOptions = { lr: 1e-3, eps: 1e-6 };
 */
export type AdamOptions = Omit<AdamWOptions, "weightDecay">;

/**
 * Plain Adam (Kingma & Ba): {@link adamw} with weight decay 0, which is
 * exactly `torch.optim.Adam` with its default `weight_decay=0`.
 *
 * @example
 *   const opt = adam({ lr: 1e-2 });
 */
export const adam = (options: AdamOptions): Optimizer<AdamWState> =>
  adamw({ ...options, weightDecay: 0 });
