/**
 * Learning-rate schedules: plain functions from the update index (0 at the
 * first update, as torch's `LambdaLR` counts) to the learning rate.
 *
 * The warm-up and decay shapes are those of Hugging Face transformers'
 * `get_*_schedule_with_warmup`, multiplied by `peak` (HF returns the factor
 * and lets `LambdaLR` multiply it by the optimizer's base lr).
 */

/**
 * A learning-rate schedule.
 *
 * @example
 *   const s: Schedule = (step) => 1e-3 * 0.99 ** step;
 */
export type Schedule = (step: number) => number;

const check = (name: string, ok: boolean, msg: string): void => {
  if (!ok) throw new RangeError(`${name}: ${msg}`);
};

const checkPeak = (name: string, peak: number): void =>
  check(name, Number.isFinite(peak) && peak >= 0, `peak must be finite and >= 0, got ${peak}`);

const checkSteps = (name: string, warmupSteps: number, totalSteps?: number): void => {
  check(name, Number.isInteger(warmupSteps) && warmupSteps >= 0, `warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  if (totalSteps !== undefined) {
    check(
      name,
      Number.isInteger(totalSteps) && totalSteps >= warmupSteps,
      `totalSteps must be an integer >= warmupSteps (${warmupSteps}), got ${totalSteps}`,
    );
  }
};

/** HF's warm-up factor: step / max(1, warmupSteps) while step < warmupSteps. */
const warmupFactor = (step: number, warmupSteps: number): number => step / Math.max(1, warmupSteps);

/**
 * A constant learning rate (HF `get_constant_schedule`).
 *
 * @example
 *   constant(1e-3)(500); // 1e-3
 */
export const constant =
  (lr: number): Schedule =>
  () =>
    lr;

/**
 * Linear warm-up from 0 to `peak` over `warmupSteps`, then constant
 * (HF `get_constant_schedule_with_warmup`).
 *
 * @example
 *   const s = linearWarmup({ peak: 1e-3, warmupSteps: 4 });
 *   s(0); s(1); s(4); // 0, 2.5e-4, 1e-3
 */
export const linearWarmup = (o: { readonly peak: number; readonly warmupSteps: number }): Schedule => {
  checkPeak("linearWarmup", o.peak);
  checkSteps("linearWarmup", o.warmupSteps);
  return (step) => o.peak * (step < o.warmupSteps ? warmupFactor(step, o.warmupSteps) : 1);
};

/**
 * Options of {@link linearWithWarmup} (and the base of {@link CosineOptions}).
 *
 * @example
 *   const o: WarmupDecayOptions = { peak: 1e-3, warmupSteps: 100, totalSteps: 1000 };
 */
export interface WarmupDecayOptions {
  readonly peak: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
}

/**
 * Linear warm-up to `peak`, then linear decay to 0 at `totalSteps` (and 0
 * after), as HF `get_linear_schedule_with_warmup`.
 *
 * @example
 *   const s = linearWithWarmup({ peak: 1e-3, warmupSteps: 10, totalSteps: 110 });
 *   s(5); s(10); s(60); s(110); // 5e-4, 1e-3, 5e-4, 0
 */
export const linearWithWarmup = (o: WarmupDecayOptions): Schedule => {
  checkPeak("linearWithWarmup", o.peak);
  checkSteps("linearWithWarmup", o.warmupSteps, o.totalSteps);
  return (step) =>
    o.peak *
    (step < o.warmupSteps
      ? warmupFactor(step, o.warmupSteps)
      : Math.max(0, (o.totalSteps - step) / Math.max(1, o.totalSteps - o.warmupSteps)));
};

/**
 * Options of {@link cosineWithWarmup}.
 *
 * @example
 *   const o: CosineOptions = { peak: 1e-3, warmupSteps: 100, totalSteps: 1000, minLr: 1e-5 };
 */
export interface CosineOptions extends WarmupDecayOptions {
  /** Number of cosine waves after warm-up; default 0.5 (peak down to the floor). */
  readonly numCycles?: number;
  /** Floor of the decay (HF's `min_lr`); default 0. */
  readonly minLr?: number;
}

/**
 * Linear warm-up to `peak`, then cosine decay (HF
 * `get_cosine_schedule_with_warmup`; with `minLr`, HF
 * `get_cosine_with_min_lr_schedule_with_warmup` with `min_lr`). After
 * warm-up, with progress = (step − warmup) / max(1, total − warmup):
 *
 *     f  = 0.5·(1 + cos(π · numCycles · 2 · progress))
 *     lr = peak · max(0, f·(1 − minLr/peak) + minLr/peak)
 *
 * As in HF, progress is not clamped: past `totalSteps` the cosine carries on.
 *
 * @example
 *   const s = cosineWithWarmup({ peak: 1e-3, warmupSteps: 0, totalSteps: 100 });
 *   s(0); s(50); s(100); // 1e-3, 5e-4, 0
 */
export const cosineWithWarmup = (o: CosineOptions): Schedule => {
  const numCycles = o.numCycles ?? 0.5;
  const minLr = o.minLr ?? 0;
  checkPeak("cosineWithWarmup", o.peak);
  checkSteps("cosineWithWarmup", o.warmupSteps, o.totalSteps);
  check("cosineWithWarmup", Number.isFinite(numCycles), `numCycles must be finite, got ${numCycles}`);
  check(
    "cosineWithWarmup",
    minLr >= 0 && minLr <= o.peak,
    `minLr must be in [0, peak=${o.peak}], got ${minLr}`,
  );
  const minRate = o.peak === 0 ? 0 : minLr / o.peak;
  return (step) => {
    if (step < o.warmupSteps) return o.peak * warmupFactor(step, o.warmupSteps);
    const progress = (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps);
    const f = 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress));
    return o.peak * Math.max(0, f * (1 - minRate) + minRate);
  };
};
