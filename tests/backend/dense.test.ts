/**
 * The plain dense op `x·op(W) + b` and the fused LoRA dense op
 * (src/backend/dense.ts) against autodiff of the
 * composite form `x·op(W) + b + s·(x·Aᵀ)·Bᵀ`, on wasm and cpu, native GEMM
 * path: the value and the gradient w.r.t. every input (x, W, bias, A, B),
 * both weight layouts, with and without a bias, N = 1 and r = 1 among the
 * shapes; that only the requested gradients' kernels run; that it declines
 * (returns undefined) where it does not apply; and that nothing leaks.
 */
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, setGemmPath } from "../../src/backend/index.js";
import { setFused } from "../../src/backend/fused.js";
import { DENSE, LORA_DENSE, LORA_DENSE_DX, LORA_GEMM, denseNative, loraDense, setFusedLora } from "../../src/backend/dense.js";
import { activeNativeGemm } from "../../src/backend/matmul.js";
import { expectClose, noLeaks, on, seeded } from "./helpers.js";

// The op under test, also when the suite runs with PEFT_TS_FUSED=0 / PEFT_TS_FUSED_LORA=0.
beforeAll(() => {
  setFused(true);
  setFusedLora(true);
});
afterAll(() => {
  setFused(undefined);
  setFusedLora(undefined);
});

interface Case {
  n: number;
  k: number;
  m: number;
  r: number;
  transposeW: boolean;
  bias: boolean;
  scaling: number;
  seed: number;
}

const dim = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 33));
const caseArb: fc.Arbitrary<Case> = fc.record({
  n: dim,
  k: dim,
  m: dim,
  r: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 8 })),
  transposeW: fc.boolean(),
  bias: fc.boolean(),
  scaling: fc.constantFrom(1, 2, 0.25, -3),
  seed: fc.integer({ min: 1, max: 999 }),
});

const composite = (x: tf.Tensor, w: tf.Tensor, transposeW: boolean, bias: tf.Tensor | undefined, a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor => {
  const base = tf.matMul(x, w, false, transposeW);
  const y = bias === undefined ? base : tf.add(base, bias);
  return tf.add(y, tf.matMul(tf.mul(tf.matMul(x, a, false, true), s), b, false, true));
};

/** The case's tensors (made on the current backend). */
const operands = (c: Case) => ({
  x: seeded([c.n, c.k], c.seed),
  w: seeded(c.transposeW ? [c.m, c.k] : [c.k, c.m], c.seed + 1),
  bias: c.bias ? seeded([c.m], c.seed + 2) : undefined,
  a: seeded([c.r, c.k], c.seed + 3),
  b: seeded([c.m, c.r], c.seed + 4),
  up: seeded([c.n, c.m], c.seed + 5), // a non-uniform upstream gradient
});

const fused = (x: tf.Tensor, w: tf.Tensor, transposeW: boolean, bias: tf.Tensor | undefined, a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor => {
  const y = loraDense(x, w, transposeW, bias, a, b, s);
  if (y === undefined) throw new Error("loraDense declined");
  return y;
};

/** [y, dx, dW, dA, dB, (db)] of Σ up ⊙ f(x, W, bias, A, B). */
const valueAndAllGrads = (c: Case, f: typeof composite) => (): tf.Tensor[] => {
  const o = operands(c);
  const params = [o.x, o.w, o.a, o.b, ...(o.bias !== undefined ? [o.bias] : [])];
  const loss = (...p: tf.Tensor[]) =>
    tf.sum(tf.mul(f(p[0] as tf.Tensor, p[1] as tf.Tensor, c.transposeW, c.bias ? p[4] : undefined, p[2] as tf.Tensor, p[3] as tf.Tensor, c.scaling), o.up));
  return [f(o.x, o.w, c.transposeW, o.bias, o.a, o.b, c.scaling), ...tf.grads(loss)(params)];
};

// Initialised here, not only in tests/setup.ts's beforeAll: `it.runIf` reads
// the GEMM path when the tests are collected.
await initBackend({ quiet: true });
const native = (): boolean => activeNativeGemm() !== undefined;

describe.each(["wasm", "cpu"])("loraDense on %s", (backend) => {
  it.runIf(native())("value and gradients w.r.t. x, W, bias, A, B equal autodiff of the composite", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const ours = await on(backend, valueAndAllGrads(c, fused));
          const ref = await on(backend, valueAndAllGrads(c, composite));
          expect(ours.length).toBe(c.bias ? 6 : 5);
          // float32, sums of ≤ 33 products of values in [-1, 1): rounding only
          expectClose(ours, ref, 2e-5, JSON.stringify(c));
        }),
        { numRuns: 80 },
      ),
    );
  });

  it.runIf(native())("N = 1, in = 1, r = 1, both layouts: an exact small case", async () => {
    await noLeaks(async () => {
      for (const transposeW of [false, true]) {
        const f = (): tf.Tensor[] => {
          const x = tf.tensor2d([[2]]);
          const w = tf.tensor2d([3, -1], transposeW ? [2, 1] : [1, 2]);
          const a = tf.tensor2d([[5]]);
          const b = tf.tensor2d([[7], [11]]);
          return [fused(x, w, transposeW, tf.tensor1d([0.5, -0.5]), a, b, 0.5)];
        };
        const [y] = await on(backend, f);
        // [2·3 + 0.5 + 0.5·(2·5)·7, 2·(−1) − 0.5 + 0.5·(2·5)·11]
        expect(y?.data).toEqual([41.5, 52.5]);
      }
    });
  });

  it.runIf(native())("computes only the requested gradients: a frozen W and an unrequested x run no product for them", async () => {
    await noLeaks(async () => {
      const names = async (wrt: ReadonlyArray<"x" | "w" | "a" | "b">): Promise<string[]> => {
        const previous = tf.getBackend();
        await tf.setBackend(backend);
        try {
          const c: Case = { n: 6, k: 5, m: 4, r: 2, transposeW: false, bias: true, scaling: 2, seed: 7 };
          const o = operands(c);
          const all = { x: o.x, w: o.w, a: o.a, b: o.b };
          const info = await tf.profile(() => {
            const loss = (...p: tf.Tensor[]) => {
              const pick = (k: keyof typeof all) => (wrt.includes(k) ? (p[wrt.indexOf(k)] as tf.Tensor) : all[k]);
              return tf.sum(tf.mul(fused(pick("x"), pick("w"), false, o.bias, pick("a"), pick("b"), 2), o.up));
            };
            tf.dispose(tf.grads(loss)(wrt.map((k) => all[k])));
          });
          tf.dispose([o.x, o.w, o.a, o.b, o.bias as tf.Tensor, o.up]);
          return info.kernels.map((k) => k.name);
        } finally {
          await tf.setBackend(previous);
        }
      };
      const count = (ks: string[], name: string) => ks.filter((k) => k === name).length;
      const lora = await names(["a", "b"]);
      // t = s·dy·B, dA, dB: three rank-r products; no dx kernel, no dW product (BatchMatMul)
      expect(count(lora, LORA_GEMM)).toBe(3);
      expect(count(lora, LORA_DENSE_DX)).toBe(0);
      expect(count(lora, tf.BatchMatMul)).toBe(0);
      expect(count(lora, LORA_DENSE)).toBe(1);
      const withX = await names(["x", "a", "b"]);
      expect(count(withX, LORA_DENSE_DX)).toBe(1);
      expect(count(withX, tf.BatchMatMul)).toBe(0);
      const withW = await names(["w", "a", "b"]);
      expect(count(withW, tf.BatchMatMul)).toBe(1);
      const onlyB = await names(["b"]);
      expect(count(onlyB, LORA_DENSE_DX)).toBe(0);
      expect(count(onlyB, LORA_GEMM)).toBe(2); // t and dB
    });
  });

  it.runIf(native())("a forward without gradients leaves no tensors behind (the internal h output is freed)", async () => {
    await noLeaks(async () => {
      const previous = tf.getBackend();
      await tf.setBackend(backend);
      try {
        const c: Case = { n: 3, k: 4, m: 5, r: 2, transposeW: true, bias: false, scaling: 1, seed: 3 };
        const o = operands(c);
        const before = tf.memory().numTensors;
        const y = fused(o.x, o.w, true, undefined, o.a, o.b, 1);
        expect(tf.memory().numTensors).toBe(before + 1);
        tf.dispose([y, o.x, o.w, o.a, o.b, o.up]);
      } finally {
        await tf.setBackend(previous);
      }
    });
  });

  it("declines what it does not cover: mismatched or empty shapes, int32, rank ≠ 2, switched off, no native GEMM", async () => {
    await noLeaks(async () => {
      const previous = tf.getBackend();
      await tf.setBackend(backend);
      try {
        tf.tidy(() => {
          const x = tf.ones([3, 4]);
          const w = tf.ones([4, 5]);
          const a = tf.ones([2, 4]);
          const b = tf.ones([5, 2]);
          if (native()) expect(loraDense(x, w, false, undefined, a, b, 1)).toBeDefined();
          expect(loraDense(x, w, true, undefined, a, b, 1)).toBeUndefined(); // W [4, 5] is not [out, in] for in = 4, out = 5
          expect(loraDense(x, w, false, tf.ones([4]), a, b, 1)).toBeUndefined();
          expect(loraDense(x, w, false, undefined, tf.ones([2, 3]), b, 1)).toBeUndefined();
          expect(loraDense(x, w, false, undefined, a, tf.ones([5, 3]), 1)).toBeUndefined();
          expect(loraDense(tf.ones([3, 4], "int32"), w, false, undefined, a, b, 1)).toBeUndefined();
          expect(loraDense(tf.ones([1, 3, 4]), w, false, undefined, a, b, 1)).toBeUndefined();
          expect(loraDense(tf.ones([0, 4]), w, false, undefined, a, b, 1)).toBeUndefined();
          setFusedLora(false);
          try {
            expect(loraDense(x, w, false, undefined, a, b, 1)).toBeUndefined();
          } finally {
            setFusedLora(true);
          }
        });
        if (native()) {
          setGemmPath("js");
          try {
            tf.tidy(() => {
              expect(loraDense(tf.ones([3, 4]), tf.ones([4, 5]), false, undefined, tf.ones([2, 4]), tf.ones([5, 2]), 1)).toBeUndefined();
            });
          } finally {
            setGemmPath();
          }
        }
      } finally {
        await tf.setBackend(previous);
      }
    });
  });
});

describe.each(["wasm", "cpu"])("denseNative on %s", (backend) => {
  /** [y, dx, dW, (db)] of Σ up ⊙ (x·op(W) + b), by `f`. */
  const run = (c: Case, f: (x: tf.Tensor, w: tf.Tensor, t: boolean, b?: tf.Tensor) => tf.Tensor) => (): tf.Tensor[] => {
    const o = operands(c);
    const params = [o.x, o.w, ...(o.bias !== undefined ? [o.bias] : [])];
    const loss = (...p: tf.Tensor[]) => tf.sum(tf.mul(f(p[0] as tf.Tensor, p[1] as tf.Tensor, c.transposeW, p[2]), o.up));
    return [f(o.x, o.w, c.transposeW, o.bias), ...tf.grads(loss)(params)];
  };
  const ours = (x: tf.Tensor, w: tf.Tensor, t: boolean, b?: tf.Tensor): tf.Tensor => {
    const y = denseNative(x, w, t, b);
    if (y === undefined) throw new Error("denseNative declined");
    return y;
  };
  const reference = (x: tf.Tensor, w: tf.Tensor, t: boolean, b?: tf.Tensor): tf.Tensor => {
    const y = tf.matMul(x, w, false, t);
    return b === undefined ? y : tf.add(y, b);
  };

  it.runIf(native())("value and gradients w.r.t. x, W, bias equal matMul + add under autodiff", async () => {
    await noLeaks(() =>
      fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const got = await on(backend, run(c, ours));
          expect(got.length).toBe(c.bias ? 4 : 3);
          expectClose(got, await on(backend, run(c, reference)), 2e-5, JSON.stringify(c));
        }),
        { numRuns: 60 },
      ),
    );
  });

  it.runIf(native())("a frozen W gets no product: the gradient w.r.t. x alone is one GEMM kernel", async () => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const c: Case = { n: 6, k: 5, m: 4, r: 1, transposeW: true, bias: true, scaling: 1, seed: 9 };
      const o = operands(c);
      const info = await tf.profile(() => {
        tf.dispose(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(ours(x, o.w, true, o.bias), o.up)))(o.x));
      });
      const names = info.kernels.map((k) => k.name);
      expect(names.filter((k) => k === DENSE)).toHaveLength(1);
      expect(names.filter((k) => k === LORA_GEMM || k === tf.BatchMatMul)).toHaveLength(1);
      expect(names.filter((k) => k === tf.Sum)).toHaveLength(1); // the loss's; no bias gradient
      tf.dispose(Object.values(o).filter((t): t is tf.Tensor => t !== undefined));
    } finally {
      await tf.setBackend(previous);
    }
  });
});

describe("the fused kernels are registered", () => {
  it("on wasm and cpu", () => {
    for (const b of ["wasm", "cpu"]) for (const k of [LORA_DENSE, LORA_DENSE_DX, LORA_GEMM, DENSE]) expect(tf.getKernel(k, b), `${b}/${k}`).toBeDefined();
    expect(tf.getGradient(LORA_DENSE)).toBeDefined();
    expect(tf.getGradient(DENSE)).toBeDefined();
  });
});
