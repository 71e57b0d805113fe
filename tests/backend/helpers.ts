/**
 * Shared helpers of the backend tests: deterministic data, running a
 * computation on a given backend (tensors are created per backend, inside the
 * callback), closeness with a relative tolerance, and leak checks.
 */
import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";

/** Deterministic values in [-1, 1) from a small LCG (identical on every backend). */
export const values = (n: number, seed: number): Float32Array => {
  let x = (seed * 2654435761) % 2147483648;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    v[i] = (x / 2147483648) * 2 - 1;
  }
  return v;
};

export const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1);

/** A float32 tensor of `shape` with {@link values}. */
export const seeded = (shape: number[], seed: number): tf.Tensor => tf.tensor(values(size(shape), seed), shape);

export interface Result {
  readonly shape: number[];
  readonly dtype: tf.DataType;
  readonly data: number[];
}

const read = (t: tf.Tensor): Result => ({ shape: [...t.shape], dtype: t.dtype, data: Array.from(t.dataSync()) });

/**
 * Run `f` on `backend` (switching to it and back), return its outputs as plain
 * arrays, dispose every tensor it made.
 */
export const on = async (backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> => {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(() => {
      const o = f();
      return Array.isArray(o) ? o : [o];
    });
    const res = outs.map(read);
    tf.dispose(outs);
    return res;
  } finally {
    await tf.setBackend(previous);
  }
};

/**
 * |actual − expected| ≤ rtol · max(1, |expected|) elementwise, same shapes,
 * NaN where expected has NaN.
 */
export const expectClose = (actual: Result[], expected: Result[], rtol = 1e-4, label = ""): void => {
  expect(actual.length, `${label}: number of outputs`).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as Result;
    expect(a.shape, `${label}: shape of output ${i}`).toEqual(e.shape);
    let worst = 0;
    let at = -1;
    for (let j = 0; j < e.data.length; j++) {
      const x = a.data[j] as number;
      const y = e.data[j] as number;
      if (Number.isNaN(y)) {
        if (!Number.isNaN(x)) {
          worst = Infinity;
          at = j;
        }
        continue;
      }
      const err = Math.abs(x - y) / Math.max(1, Math.abs(y));
      if (!(err <= worst)) {
        worst = err;
        at = j;
      }
    }
    expect(worst, `${label}: output ${i} worst relative error at ${at} (${a.data[at]} vs ${e.data[at]})`).toBeLessThanOrEqual(rtol);
  });
};

const backendBuffers = (): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const name of ["wasm", "cpu"]) {
    const be = tf.findBackend(name);
    if (be !== null) out[name] = be.numDataIds();
  }
  return out;
};

/**
 * Assert that `f` leaves `tf.memory().numTensors` where it found it, and the
 * wasm and cpu backends' own data buffers too (kernel intermediates that were
 * never tensors, e.g. a fill-in's cpu copies).
 */
export const noLeaks = async <T>(f: () => Promise<T> | T): Promise<T> => {
  // Initialise both backends first (wasm initialises asynchronously, on first use).
  const current = tf.getBackend();
  for (const name of ["wasm", "cpu"]) if (tf.findBackend(name) === null) await tf.setBackend(name);
  await tf.setBackend(current);
  const before = tf.memory().numTensors;
  const buffers = backendBuffers();
  const out = await f();
  expect(tf.memory().numTensors, "tensors leaked").toBe(before);
  expect(backendBuffers(), "backend data buffers leaked").toEqual(buffers);
  return out;
};

/** Float64 reference of matMul with full broadcasting of batch dims. */
export const referenceMatMul = (
  a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean,
): { data: number[]; shape: number[] } => {
  const ar = aShape.length;
  const br = bShape.length;
  const M = aShape[ta ? ar - 1 : ar - 2] as number;
  const K = aShape[ta ? ar - 2 : ar - 1] as number;
  const N = bShape[tb ? br - 2 : br - 1] as number;
  const aDims = aShape.slice(0, -2);
  const bDims = bShape.slice(0, -2);
  const rank = Math.max(aDims.length, bDims.length);
  const pad = (d: number[]): number[] => [...new Array<number>(rank - d.length).fill(1), ...d];
  const pa = pad(aDims);
  const pb = pad(bDims);
  const out = pa.map((x, i) => Math.max(x, pb[i] as number));
  const batch = size(out);
  const data: number[] = [];
  for (let i = 0; i < batch; i++) {
    let rem = i;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const o = out[d] as number;
      const c = rem % o;
      rem = Math.floor(rem / o);
      ia += ((pa[d] as number) === 1 ? 0 : c) * sa;
      ib += ((pb[d] as number) === 1 ? 0 : c) * sb;
      sa *= pa[d] as number;
      sb *= pb[d] as number;
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ia * M * K + (ta ? k * M + m : m * K + k)] as number;
          const bv = b[ib * K * N + (tb ? n * K + k : k * N + n)] as number;
          acc += av * bv;
        }
        data.push(acc);
      }
    }
  }
  return { data, shape: [...out, M, N] };
};

/** Layer norm and its gradients in float64: [y, dx, dw?, db?] for upstream `up`. */
export const layerNormF64 = (x: number[], c: number, eps: number, w: number[] | undefined, b: number[] | undefined, up: number[]): number[][] => {
  const rows = x.length / c;
  const y: number[] = [];
  const dx: number[] = [];
  const dw = new Array<number>(c).fill(0);
  const db = new Array<number>(c).fill(0);
  for (let r = 0; r < rows; r++) {
    const row = x.slice(r * c, (r + 1) * c);
    const mu = row.reduce((a, v) => a + v, 0) / c;
    const rs = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / c + eps);
    const xh = row.map((v) => (v - mu) * rs);
    const d = up.slice(r * c, (r + 1) * c);
    const g = d.map((v, j) => v * (w ? (w[j] as number) : 1));
    const mg = g.reduce((a, v) => a + v, 0) / c;
    const mgx = g.reduce((a, v, j) => a + v * (xh[j] as number), 0) / c;
    xh.forEach((v, j) => {
      y.push(v * (w ? (w[j] as number) : 1) + (b ? (b[j] as number) : 0));
      dx.push(rs * ((g[j] as number) - mg - v * mgx));
      dw[j] = (dw[j] as number) + (d[j] as number) * v;
      db[j] = (db[j] as number) + (d[j] as number);
    });
  }
  return [y, dx, ...(w ? [dw] : []), ...(b ? [db] : [])];
};
