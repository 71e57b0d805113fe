/**
 * `Pow` with a scalar exponent in {±1, 2, 3, 4, ±0.5} (the cube in GELU's
 * tanh form, squares), for the `wasm` and `cpu` backends: wasm calls `powf`
 * per element (~19 ms for 1 M elements); multiplications and `Math.sqrt` are
 * ~10× faster. Other exponents, non-scalar exponents and int32 go to the
 * stock kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import { isCpu, isWasm, sizeOf, typedView, type WasmBackend } from "./internals.js";
import { stockKernel } from "./registry.js";

/** Exponents computed without `powf`. */
const FAST_EXPONENTS = new Set([1, 2, 3, 4, -1, 0.5, -0.5]);

export const powKernel = (backendName: string): tf.KernelFunc => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const be = args.backend as tf.KernelBackend;
  const stock = (): tf.TensorInfo | tf.TensorInfo[] => {
    const f = stockKernel(tf.Pow, backendName);
    if (f === undefined) throw new Error(`[peft-ts] no stock Pow on ${backendName}`);
    return f(args);
  };
  if (a.dtype !== "float32" || b.dtype !== "float32" || sizeOf(b.shape) !== 1 || b.shape.length > a.shape.length) return stock();
  const e0 = typedView(be, b);
  const e = e0?.[0];
  if (e === undefined || !FAST_EXPONENTS.has(e)) return stock();
  const outShape = tf.backend_util.assertAndGetBroadcastShape([...a.shape], [...b.shape]);
  let info: tf.TensorInfo;
  let out: Float32Array;
  if (isWasm(be)) {
    info = (be as WasmBackend).makeOutput(outShape, "float32");
    out = typedView(be, info) as Float32Array;
  } else if (isCpu(be)) {
    out = new Float32Array(sizeOf(outShape));
    info = be.makeTensorInfo(outShape, "float32", out);
  } else {
    return stock();
  }
  const x = typedView(be, a) as Float32Array;
  const n = x.length;
  switch (e) {
    case 1:
      out.set(x);
      break;
    case 2:
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) * (x[i] as number);
      break;
    case 3:
      for (let i = 0; i < n; i++) {
        const v = x[i] as number;
        out[i] = v * v * v;
      }
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const v = (x[i] as number) * (x[i] as number);
        out[i] = v * v;
      }
      break;
    case -1:
      for (let i = 0; i < n; i++) out[i] = 1 / (x[i] as number);
      break;
    case 0.5:
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i] as number);
      break;
    case -0.5:
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i] as number);
      break;
  }
  return info;
};
