/**
 * The native norm and element-wise kernels (src/backend/native-norm.ts,
 * src/backend/native-pointwise.ts over native/peft_norm.c and
 * native/peft_pointwise.c), on wasm and cpu:
 *
 * - LayerNorm: values and gradients w.r.t. x, γ, β against float64 (and no
 *   worse than the composite form), over random shapes incl. last axes that
 *   are not a multiple of the C code's 8 partial sums, row spreads near √eps,
 *   and large offsets;
 * - RMSNorm: values and gradients w.r.t. x and w against the composite form
 *   (HF's LlamaRMSNorm as ops, under autodiff);
 * - GELU: values and gradients against the tanh form as written, incl.
 *   inputs far into both tails (where the kernel's exp clamps);
 * - registered (lazy) gradients: differentiating w.r.t. x alone runs no
 *   parameter-gradient kernel — the point of not using `tf.customGrad`;
 * - AdamW: the one-kernel update is bit for bit the op-by-op update (same
 *   float32 operations in the same order) over several steps, with and
 *   without weight decay;
 * - threads: every kernel gives the same bits on 1, 2 and 5 threads (each
 *   element is written by one thread; sizes large enough to split);
 * - the addon's own size checks: an array shorter than its shape is a
 *   JavaScript error, not a write past its end.
 *
 * Skipped without the native addon (CI requires it: .ci/install-native.sh).
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/backend/index.js";
import { setFused } from "../../src/backend/fused.js";
import { LAYER_NORM, LAYER_NORM_GRAD_PARAMS, LAYER_NORM_GRAD_X, RMS_NORM_GRAD_W, RMS_NORM_GRAD_X, layerNormNative, rmsNormNative } from "../../src/backend/native-norm.js";
import { ADAMW, GELU_TANH, geluTanhNative } from "../../src/backend/native-pointwise.js";
import { activeNativeGemm } from "../../src/backend/matmul.js";
import type { NativeKernels } from "../../src/backend/gemm.js";
import { geluTanhComposite } from "../../src/nn/activation.js";
import { adamw } from "../../src/train/optim/adamw.js";
import { layerNormComposite, rmsNormComposite } from "../../src/nn/norm.js";
import { expectClose, geluProperty, layerNormProperty, noLeaks, on, size, values } from "./helpers.js";

beforeAll(() => setFused(true));
afterAll(() => setFused(undefined));

// Whether the kernels are active is known once the backend (and its GEMM path) is chosen.
await initBackend({ quiet: true });
const native = activeNativeGemm() as (NativeKernels & object) | undefined;
const haveKernels = native !== undefined && typeof native.layerNorm === "function";

describe.skipIf(!haveKernels).each(["wasm", "cpu"])("native kernels on %s", (backend) => {
  it("LayerNorm: values and gradients w.r.t. x, γ, β are as close to float64 as the composite form", async () => {
    const nativeLn = (x: tf.Tensor, e: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
      const y = w !== undefined && b !== undefined ? layerNormNative(x, e, w, b) : undefined;
      if (y === undefined) throw new Error("native LayerNorm declined");
      return y;
    };
    // last axes up to 21: not only multiples of the C code's 8 partial sums; offsets 100: large means
    await noLeaks(() => fc.assert(layerNormProperty(backend, nativeLn, layerNormComposite, { affines: ["wb"], offsets: [0.5, 100], maxLast: 21 }), { numRuns: 60 }));
  });

  it("RMSNorm: values and gradients w.r.t. x and w equal the composite form under autodiff", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 2 }),
          fc.integer({ min: 1, max: 21 }),
          fc.constantFrom(1e-6, 1e-2),
          fc.constantFrom(0.01, 1, 30),
          fc.integer({ min: 1, max: 999 }),
          async (lead, c, eps, scale, seed) => {
            const shape = [...lead, c];
            const run = (rms: (x: tf.Tensor, eps: number, w: tf.Tensor) => tf.Tensor) => (): tf.Tensor[] => {
              const x = tf.mul(tf.tensor(values(size(shape), seed), shape), scale);
              const w = tf.add(tf.tensor1d(values(c, seed + 1)), 1);
              const u = tf.tensor(values(size(shape), seed + 3), shape);
              const loss = (xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(rms(xi, eps, wi), u));
              return [rms(x, eps, w), ...tf.grads(loss as (...a: tf.Tensor[]) => tf.Tensor)([x, w])];
            };
            const nativeRms = (x: tf.Tensor, e: number, w: tf.Tensor): tf.Tensor => {
              const y = rmsNormNative(x, e, w);
              if (y === undefined) throw new Error("native RMSNorm declined");
              return y;
            };
            // float32 both ways; the native mean square is taken in float64
            expectClose(await on(backend, run(nativeRms)), await on(backend, run(rmsNormComposite)), 2e-5, `${shape} ${eps} ×${scale}`);
          },
        ),
        { numRuns: 60 },
      ),
    );
  });

  it("RMSNorm: the gradient w.r.t. x alone runs no weight-gradient kernel", async () => {
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const x = tf.tensor(values(2 * 3 * 8, 5), [2, 3, 8]);
      const w = tf.ones([8]);
      const names = async (f: () => tf.Tensor | tf.Tensor[]) => (await tf.profile(() => void tf.dispose(f()))).kernels.map((k) => k.name);
      const onlyX = await names(() => tf.grad((t: tf.Tensor) => tf.sum(rmsNormNative(t, 1e-6, w) as tf.Tensor))(x));
      const both = await names(() => tf.grads((t: tf.Tensor, wi: tf.Tensor) => tf.sum(rmsNormNative(t, 1e-6, wi) as tf.Tensor))([x, w]));
      expect(onlyX).toContain(RMS_NORM_GRAD_X);
      expect(onlyX).not.toContain(RMS_NORM_GRAD_W);
      expect(both).toContain(RMS_NORM_GRAD_W);
      tf.dispose([x, w]);
    } finally {
      await tf.setBackend(prev);
    }
  });

  it("GELU (tanh form): values and gradient equal the form as written, tails included", async () => {
    const nativeGelu = (x: tf.Tensor): tf.Tensor => {
      const y = geluTanhNative(x);
      if (y === undefined) throw new Error("native GELU declined");
      return y;
    };
    // the kernel's exp is a polynomial (< 2e-7 relative); scale 60 reaches its clamps
    await noLeaks(() => fc.assert(geluProperty(backend, nativeGelu, geluTanhComposite, { scales: [1, 4, 12, 60], maxDim: 7 }), { numRuns: 60 }));
  });

  it("GELU at exact points: 0 → 0 (slope ½), large x → x (slope 1), very negative x → 0 (slope 0)", async () => {
    const [y, dy] = await on(backend, () => {
      const x = tf.tensor1d([0, 30, -30, 1e4, -1e4]);
      return [geluTanhNative(x) as tf.Tensor, tf.grad((t: tf.Tensor) => tf.sum(geluTanhNative(t) as tf.Tensor))(x)];
    });
    // gelu(x) = x·σ(2u): exactly 0 at 0, x itself once σ rounds to 1, ~0 once it underflows.
    const [y0, y1, y2, y3, y4] = y?.data as number[];
    expect([y0, y1, y3]).toEqual([0, 30, 1e4]);
    expect(Math.abs(y2 as number)).toBeLessThan(1e-30);
    expect(Math.abs(y4 as number)).toBeLessThan(1e-30);
    // slope σ + x·σ(1 − σ)·2u′: ½ at 0, 1 when σ = 1, ~0 when σ ~ 0
    const [d0, d1, d2, d3, d4] = dy?.data as number[];
    expect(d0).toBeCloseTo(0.5, 7);
    expect([d1, d3]).toEqual([1, 1]);
    expect(Math.abs(d2 as number)).toBeLessThan(1e-20);
    expect(Math.abs(d4 as number)).toBeLessThan(1e-20);
  });

  it("AdamW: the one-kernel update equals the op-by-op update bit for bit, step after step", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 2 }),
          fc.constantFrom(0, 0.01, 0.3),
          fc.constantFrom(1e-3, 0.5),
          fc.integer({ min: 1, max: 999 }),
          async (shape, weightDecay, lr, seed) => {
            const run = (fused: boolean) => async (): Promise<number[][]> => {
              setFused(fused);
              const opt = adamw({ lr, weightDecay, betas: [0.9, 0.99], eps: 1e-6 });
              let params: Record<string, tf.Tensor> = { w: tf.tensor(values(size(shape), seed), shape) };
              let state = opt.init(params);
              for (let t = 0; t < 3; t++) {
                const grads = { w: tf.tensor(values(size(shape), seed + 10 + t), shape) };
                const next = opt.update(grads, state, params);
                tf.dispose([grads.w, params["w"] as tf.Tensor, state.m["w"] as tf.Tensor, state.v["w"] as tf.Tensor]);
                params = next.params as Record<string, tf.Tensor>;
                state = next.state;
              }
              const out = [params["w"], state.m["w"], state.v["w"]].map((t) => Array.from((t as tf.Tensor).dataSync()));
              tf.dispose([params["w"] as tf.Tensor, state.m["w"] as tf.Tensor, state.v["w"] as tf.Tensor]);
              return out;
            };
            const prev = tf.getBackend();
            await tf.setBackend(backend);
            try {
              const one = await run(true)();
              const ops = await run(false)();
              expect(one).toEqual(ops);
              // and the update did something: p moved from its start
              expect(one[0]).not.toEqual(Array.from(values(size(shape), seed)));
            } finally {
              setFused(true);
              await tf.setBackend(prev);
            }
          },
        ),
        { numRuns: 40 },
      ),
    );
  });

  it("AdamW runs one kernel per parameter", async () => {
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const params = { a: tf.ones([3, 4]), b: tf.ones([5]) };
      const grads = { a: tf.ones([3, 4]), b: tf.ones([5]) };
      const opt = adamw({ lr: 0.1 });
      const state = opt.init(params);
      const info = await tf.profile(() => {
        const next = opt.update(grads, state, params);
        tf.dispose([...Object.values(next.params), ...Object.values(next.state.m), ...Object.values(next.state.v)]);
      });
      expect(info.kernels.map((k) => k.name)).toEqual([ADAMW, ADAMW]);
      tf.dispose([...Object.values(params), ...Object.values(grads), ...Object.values(state.m), ...Object.values(state.v)]);
    } finally {
      await tf.setBackend(prev);
    }
  });

  it("the gradient w.r.t. x alone runs no LayerNorm parameter-gradient kernel; w.r.t. γ and β it does", async () => {
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const x = tf.tensor(values(2 * 3 * 8, 5), [2, 3, 8]);
      const w = tf.ones([8]);
      const b = tf.zeros([8]);
      const kernelsOf = async (f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> => {
        const info = await tf.profile(() => {
          tf.dispose(f());
        });
        return info.kernels.map((k) => k.name);
      };
      const onlyX = await kernelsOf(() => tf.grad((t: tf.Tensor) => tf.sum(layerNormNative(t, 1e-5, w, b) as tf.Tensor))(x));
      const all = await kernelsOf(() =>
        tf.grads((t: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(layerNormNative(t, 1e-5, wi, bi) as tf.Tensor))([x, w, b]),
      );
      expect(onlyX).toContain(LAYER_NORM);
      expect(onlyX).toContain(LAYER_NORM_GRAD_X);
      expect(onlyX).not.toContain(LAYER_NORM_GRAD_PARAMS);
      expect(all.filter((k) => k === LAYER_NORM_GRAD_PARAMS)).toHaveLength(2);
      tf.dispose([x, w, b]);
    } finally {
      await tf.setBackend(prev);
    }
  });

  it("declines (undefined) where it does not apply: int32 input, parameters of the wrong size", async () => {
    await on(backend, () => {
      const x = tf.ones([2, 4]);
      expect(geluTanhNative(tf.ones([3], "int32"))).toBeUndefined();
      expect(layerNormNative(x, 1e-5, tf.ones([3]), tf.zeros([4]))).toBeUndefined();
      expect(layerNormNative(x, 1e-5, tf.ones([4]), tf.zeros([4]))).toBeDefined();
      expect(tf.getKernel(GELU_TANH, backend)).toBeDefined();
      return x;
    });
  });
});

describe.skipIf(!haveKernels)("native kernel threads", () => {
  it("give the same bits on 1, 2 and 5 threads (GELU, its gradient, LayerNorm, RMSNorm, AdamW)", () => {
    const k = native as NativeKernels;
    const before = k.kernelThreads();
    const n = 3 * (1 << 20) + 17; // above every kernel's split size, not a multiple of the chunk count
    const d = 257;
    const rowsN = Math.floor(n / d);
    const x = values(n, 3);
    const dy = values(n, 4);
    const w = values(d, 5);
    const b = values(d, 6);
    const run = (threads: number): Float32Array[] => {
      k.setKernelThreads(threads);
      const gelu = new Float32Array(n);
      const geluGrad = new Float32Array(n);
      const ln = new Float32Array(rowsN * d);
      const mean = new Float32Array(rowsN);
      const rstd = new Float32Array(rowsN);
      const lnGrad = new Float32Array(rowsN * d);
      const [p, m, v] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      const rms = new Float32Array(rowsN * d);
      const rmsRstd = new Float32Array(rowsN);
      const rmsGrad = new Float32Array(rowsN * d);
      k.geluTanh(x, gelu, n);
      k.geluTanhGrad(dy, x, geluGrad, n);
      k.layerNorm(x, w, b, ln, mean, rstd, rowsN, d, 1e-5);
      k.layerNormGradX(dy, x, w, mean, rstd, lnGrad, rowsN, d);
      k.adamw(x, dy, x, gelu, p, m, v, n, 0.999, 0.9, 0.1, 0.999, 0.001, 1e-3, 0.03, 1e-8);
      k.rmsNorm(x, w, rms, rmsRstd, rowsN, d, 1e-6);
      k.rmsNormGradX(dy, x, w, rmsRstd, rmsGrad, rowsN, d);
      return [gelu, geluGrad, ln, mean, rstd, lnGrad, p, m, v, rms, rmsRstd, rmsGrad];
    };
    try {
      const one = run(1);
      for (const t of [2, 5]) {
        const many = run(t);
        one.forEach((a, i) => expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from((many[i] as Float32Array).buffer)), `output ${i} on ${t} threads`).toBe(0));
      }
      expect(one[0]?.some((v) => v !== 0)).toBe(true);
    } finally {
      k.setKernelThreads(before);
    }
  });
});

describe.skipIf(!haveKernels)("native kernel size checks", () => {
  it("an array shorter than its shape needs is an error, and nothing is written", () => {
    const k = native as NativeKernels;
    const y = new Float32Array(7).fill(9);
    expect(() => k.geluTanh(new Float32Array(8), y, 8)).toThrow(/argument 1 must be a Float32Array of at least/);
    expect(Array.from(y)).toEqual(new Array(7).fill(9));
    const x = new Float32Array(12);
    const out = new Float32Array(12);
    expect(() => k.layerNorm(x, null, null, out, new Float32Array(2), new Float32Array(3), 3, 4, 1e-5)).toThrow(/argument 4/);
    expect(() => k.layerNorm(x, new Float32Array(3), null, out, new Float32Array(3), new Float32Array(3), 3, 4, 1e-5)).toThrow(/argument 1/);
    expect(() => k.layerNormGradParams(x, x, new Float32Array(3), new Float32Array(3), new Float32Array(2), null, 3, 4)).toThrow(/argument 4/);
    expect(() => k.geluTanh(x, out, -1)).toThrow(/non-negative/);
  });
});
