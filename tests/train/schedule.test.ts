import { describe, expect, it } from "vitest";
import { constant, cosineWithWarmup, linearWarmup, linearWithWarmup } from "../../src/train/index.js";

// Hand values: the HF transformers lambdas (optimization.py) evaluated with
// python3 + math, times peak = 2e-3.

describe("schedules", () => {
  it("constant", () => {
    expect([0, 1, 1000].map(constant(3e-4))).toEqual([3e-4, 3e-4, 3e-4]);
  });

  it("linearWarmup = HF get_constant_schedule_with_warmup", () => {
    // factor = step/4 for step < 4, then 1
    const s = linearWarmup({ peak: 2e-3, warmupSteps: 4 });
    [0, 5e-4, 1e-3, 1.5e-3, 2e-3, 2e-3].forEach((v, step) => expect(s(step)).toBeCloseTo(v, 12));
    expect(linearWarmup({ peak: 1, warmupSteps: 0 })(0)).toBe(1);
  });

  it("linearWithWarmup = HF get_linear_schedule_with_warmup", () => {
    // warmup 10, total 110: step<10 → step/10; else max(0, (110 − step)/100)
    // steps 0, 3, 10, 35, 60, 109, 110, 200 → 0, 6e-4, 2e-3, 1.5e-3, 1e-3, 2e-5, 0, 0
    const s = linearWithWarmup({ peak: 2e-3, warmupSteps: 10, totalSteps: 110 });
    const steps = [0, 3, 10, 35, 60, 109, 110, 200];
    const want = [0, 6e-4, 2e-3, 1.5e-3, 1e-3, 2e-5, 0, 0];
    steps.forEach((step, i) => expect(s(step)).toBeCloseTo(want[i] as number, 12));
  });

  it("cosineWithWarmup = HF get_cosine_schedule_with_warmup", () => {
    // warmup 10, total 110, cycles 0.5: progress = (step − 10)/100, f = ½(1 + cos(π·progress))
    // steps 0, 3, 10, 35, 60, 85, 110 → 0, 6e-4, 2e-3, 1.7071067811865474e-3, 1e-3, 2.9289321881345256e-4, 0
    const s = cosineWithWarmup({ peak: 2e-3, warmupSteps: 10, totalSteps: 110 });
    const steps = [0, 3, 10, 35, 60, 85, 110];
    const want = [0, 6e-4, 2e-3, 1.7071067811865474e-3, 1e-3, 2.9289321881345256e-4, 0];
    steps.forEach((step, i) => expect(s(step)).toBeCloseTo(want[i] as number, 12));
  });

  it("cosineWithWarmup with numCycles = 1 goes down and back up", () => {
    // warmup 0, total 100: ½(1 + cos(2π·step/100)) at 0, 25, 50, 75, 100 → 1, ½, 0, ½, 1
    const s = cosineWithWarmup({ peak: 2e-3, warmupSteps: 0, totalSteps: 100, numCycles: 1 });
    [2e-3, 1e-3, 0, 1e-3, 2e-3].forEach((v, i) => expect(s(i * 25)).toBeCloseTo(v, 12));
  });

  it("cosineWithWarmup with minLr = HF get_cosine_with_min_lr_schedule_with_warmup", () => {
    // min_lr_rate = 5e-4/2e-3 = 0.25; factor·0.75 + 0.25 at steps 10, 35, 60, 110
    // → 2e-3, 1.7803300858899105e-3, 1.25e-3, 5e-4
    const s = cosineWithWarmup({ peak: 2e-3, warmupSteps: 10, totalSteps: 110, minLr: 5e-4 });
    const want = [2e-3, 1.7803300858899105e-3, 1.25e-3, 5e-4];
    [10, 35, 60, 110].forEach((step, i) => expect(s(step)).toBeCloseTo(want[i] as number, 12));
  });

  it("rejects inconsistent settings", () => {
    expect(() => linearWithWarmup({ peak: 1, warmupSteps: 10, totalSteps: 5 })).toThrow(RangeError);
    expect(() => cosineWithWarmup({ peak: 1, warmupSteps: 0, totalSteps: 5, minLr: 2 })).toThrow(RangeError);
    expect(() => linearWarmup({ peak: -1, warmupSteps: 3 })).toThrow(RangeError);
  });
});
