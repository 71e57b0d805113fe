/**
 * Mixed-adapter batches (PEFT's `model(x, adapter_names=[...])`): each sample
 * of a batch runs through its own adapter, or none (`"__base__"`). `apply`
 * puts the per-sample names in the context (`adapterNames`); an adapted
 * layer (and a modules_to_save wrapper) splits its input by name along the
 * batch axis, runs each group through the ordinary forward with that one
 * adapter, and puts the rows back in batch order. Nothing per method: any
 * tuner's layer forward serves, DoRA included.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Ctx } from "../nn/registry.js";

/** The name that runs a sample through the base model only. */
export const BASE_ADAPTER = "__base__";

/** The mixed batch's per-sample adapter names, when the forward runs one. */
export const adapterNamesOf = (ctx: Ctx): ReadonlyArray<string> | undefined => ctx["adapterNames"] as ReadonlyArray<string> | undefined;

/**
 * `run(name, rows of x)` for each distinct name's samples, stitched back in
 * batch order. `x`'s first axis must be the batch (one row per name).
 */
export const byAdapter = (x: tf.Tensor, names: ReadonlyArray<string>, where: string, run: (name: string, xs: tf.Tensor) => tf.Tensor): tf.Tensor => {
  if (x.shape[0] !== names.length) {
    throw new Error(
      `${where}: a mixed batch names ${names.length} samples (adapterNames) but this layer's input is ${JSON.stringify(x.shape)}: ` +
        "mixed batches need the batch on the first axis of every adapted layer's input",
    );
  }
  const groups = new Map<string, number[]>();
  names.forEach((name, row) => groups.set(name, [...(groups.get(name) ?? []), row]));
  if (groups.size === 1) return run(names[0] as string, x);
  const order = [...groups.values()].flat();
  const outs = [...groups.entries()].map(([name, rows]) => run(name, tf.gather(x, tf.tensor1d(rows, "int32"))));
  const inverse = new Int32Array(order.length);
  order.forEach((row, k) => (inverse[row] = k));
  return tf.gather(tf.concat(outs, 0), tf.tensor1d(inverse, "int32"));
};
