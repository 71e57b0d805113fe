/**
 * Delegation of a wasm kernel to the cpu backend's: copy the inputs out of
 * the wasm heap into cpu tensors, run the cpu backend's registered kernel
 * function, copy the outputs back with `makeOutput`, and dispose every cpu
 * intermediate. Used by the fill-ins of ./fillins.ts and by ./matmul.ts (int32
 * products, which the stock wasm kernel rejects); a module of its own so that
 * ./matmul.ts does not import ./fillins.ts (which imports, through the fused
 * kernels, ./matmul.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { isCpu, isWasm, type CpuBackend } from "./internals.js";

const cpuBackend = (): CpuBackend => {
  const be = tf.findBackend("cpu");
  if (!isCpu(be)) throw new Error("[peft-ts] the cpu backend is needed for a wasm fill-in but is not available");
  // The cpu backend greets its first write with a banner recommending
  // tfjs-node; a wasm user did not choose cpu, so keep it quiet.
  (be as unknown as { firstUse?: boolean }).firstUse = false;
  return be;
};

/** A wasm kernel function that runs cpu's `kernelName` on copies of its inputs. */
export const delegateToCpu = (kernelName: string): tf.KernelFunc => (args) => {
  const wasm = args.backend;
  if (!isWasm(wasm)) throw new Error(`[peft-ts] ${kernelName} fill-in called on a non-wasm backend`);
  const cpu = cpuBackend();
  const f = tf.getKernel(kernelName, "cpu")?.kernelFunc;
  if (f === undefined) throw new Error(`[peft-ts] cpu has no ${kernelName} kernel to delegate to`);
  const made: tf.TensorInfo[] = [];
  const copy = (t: tf.TensorInfo): tf.TensorInfo => {
    const c = cpu.makeTensorInfo(t.shape, t.dtype, wasm.readSync(t.dataId) as tf.backend_util.BackendValues);
    made.push(c);
    return c;
  };
  try {
    // Most kernels take named inputs; a few (Einsum, Concat, AddN, Pack) an array.
    const src = args.inputs as unknown;
    let inputs: unknown;
    if (Array.isArray(src)) {
      inputs = (src as tf.TensorInfo[]).map(copy);
    } else {
      const named: Record<string, tf.TensorInfo> = {};
      for (const [name, t] of Object.entries(src as Record<string, tf.TensorInfo | null | undefined>)) {
        if (t != null) named[name] = copy(t);
      }
      inputs = named;
    }
    const out = f({ inputs: inputs as tf.NamedTensorInfoMap, attrs: args.attrs, backend: cpu });
    const outs = Array.isArray(out) ? out : [out];
    const results = outs.map((o) => {
      const values = cpu.readSync(o.dataId) as tf.backend_util.BackendValues;
      return wasm.makeOutput([...o.shape], o.dtype, undefined, values);
    });
    for (const o of outs) cpu.disposeIntermediateTensorInfo(o);
    return Array.isArray(out) ? results : (results[0] as tf.TensorInfo);
  } finally {
    for (const t of made) cpu.disposeIntermediateTensorInfo(t);
  }
};
