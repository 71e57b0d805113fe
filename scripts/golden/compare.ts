/** Elementwise comparison with the golden tolerance |got − exp| ≤ atol + rtol·|exp|. */
import * as tf from "@tensorflow/tfjs-core";

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

export interface Comparison {
  readonly ok: boolean;
  /** max |got − exp| */
  readonly maxError: number;
  readonly detail?: string;
}

/** Compare two tensors (shapes must agree). */
export const compare = (got: tf.Tensor, expected: tf.Tensor, tol: Tolerance): Comparison => {
  if (got.shape.join(",") !== expected.shape.join(",")) {
    return { ok: false, maxError: Infinity, detail: `shape [${got.shape.join(", ")}] vs expected [${expected.shape.join(", ")}]` };
  }
  const g = got.dataSync();
  const e = expected.dataSync();
  let maxError = 0;
  let ok = true;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs((g[i] as number) - (e[i] as number));
    if (!(d <= tol.atol + tol.rtol * Math.abs(e[i] as number))) ok = false;
    if (!(d <= maxError)) maxError = d;
  }
  return { ok, maxError };
};
