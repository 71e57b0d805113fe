/**
 * LoRA's weights: the update s·ΔW = s·B·A in the base's layout, DoRA's
 * weight norm ‖W + s·ΔW‖, and the merge that folds an adapter into its base.
 */
import * as tf from "@tensorflow/tfjs-core";
import { withParams, type Node } from "../../tree/node.js";
import { tidy } from "../../nn/ops.js";
import { baseLayer, innermostBase, settingsOf, slotModule, slotParam, hasSlot } from "../layer.js";
import type { LoraSettings } from "./settings.js";

export const weightOf = (n: Node): tf.Tensor => {
  const w = n.params["weight"];
  if (w === undefined) throw new Error(`layer of kind '${n.kind}' has no weight`);
  return w;
};

/** The base weight as [out, in] (transposing GPT-2's Conv1D layout). */
const outIn = (base: Node, w: tf.Tensor = weightOf(base)): tf.Tensor => (base.kind === "conv1d" ? tf.transpose(w) : w);

/** B·A (unscaled) in the base's [out, in(, kh, kw)] layout; for embeddings [num, dim]. */
const loraProduct = (layer: Node, adapter: string): tf.Tensor => {
  const inner = innermostBase(baseLayer(layer));
  if (hasSlot(layer, "lora_embedding_A", adapter)) {
    const a = slotParam(layer, "lora_embedding_A", adapter);
    const b = slotParam(layer, "lora_embedding_B", adapter);
    return tf.transpose(tf.matMul(b, a)); // [num, dim]
  }
  const a = weightOf(slotModule(layer, "lora_A", adapter));
  const b = weightOf(slotModule(layer, "lora_B", adapter));
  if (inner.kind === "conv2d") {
    const w = weightOf(inner);
    const ba = tf.matMul(tf.reshape(b, [b.shape[0] as number, -1]), tf.reshape(a, [a.shape[0] as number, -1]));
    return tf.reshape(ba, w.shape);
  }
  return tf.matMul(b, a); // [out, in]
};

/**
 * DoRA's ‖W + s·ΔW‖ per output unit, in the magnitude vector's shape:
 * [out] (linear, conv1d), [1, out, 1, 1] (conv2d), [dim] (embedding).
 */
export const doraWeightNorm = (layer: Node, adapter: string): tf.Tensor =>
  tf.tidy(() => {
    const inner = innermostBase(baseLayer(layer));
    const { scaling } = settingsOf<LoraSettings>(layer, adapter);
    const prod = loraProduct(layer, adapter);
    if (inner.kind === "embedding") {
      return tf.norm(tf.add(weightOf(inner), tf.mul(prod, scaling)), "euclidean", 0); // [dim]
    }
    const w = outIn(inner);
    const sum = tf.add(w, tf.mul(prod, scaling));
    if (inner.kind === "conv2d") {
      const n = tf.sqrt(tf.sum(tf.square(sum), [1, 2, 3]));
      return tf.reshape(n, [1, -1, 1, 1]);
    }
    return tf.norm(sum, "euclidean", 1);
  });

/** The weight update s·ΔW in the base's own layout (Conv1D: [in, out]). */
export const loraDelta = (layer: Node, adapter: string): tf.Tensor =>
  tf.tidy(() => {
    const inner = innermostBase(baseLayer(layer));
    const { scaling } = settingsOf<LoraSettings>(layer, adapter);
    const d = tf.mul(loraProduct(layer, adapter), scaling);
    return inner.kind === "conv1d" ? tf.transpose(d) : d;
  });

/**
 * `base` with the adapter folded in: W + s·ΔW (and b + s·b_B with `lora_bias`),
 * or for DoRA m ⊙ (W + s·ΔW)/‖W + s·ΔW‖.
 */
export const mergeLora = (layer: Node, adapter: string, base: Node): Node =>
  tidy(() => {
    const st = settingsOf<LoraSettings>(layer, adapter);
    const inner = innermostBase(baseLayer(layer));
    const w = weightOf(base);
    let merged = tf.add(w, loraDelta(layer, adapter));
    if (st.useDora) {
      const norm = doraWeightNorm(layer, adapter);
      const mag = slotParam(layer, "lora_magnitude_vector", adapter);
      const factor = tf.div(mag, norm);
      merged =
        inner.kind === "embedding"
          ? tf.mul(merged, factor)
          : inner.kind === "conv2d"
            ? tf.mul(merged, tf.reshape(factor, [-1, 1, 1, 1]))
            : inner.kind === "conv1d"
              ? tf.mul(merged, tf.reshape(factor, [1, -1]))
              : tf.mul(merged, tf.reshape(factor, [-1, 1]));
    }
    const out: Record<string, tf.Tensor> = { weight: merged };
    if (st.loraBias) {
      const bb = slotModule(layer, "lora_B", adapter).params["bias"];
      const b = base.params["bias"];
      if (bb !== undefined) {
        if (b === undefined) throw new Error("lora_bias merge needs a base layer with a bias");
        out["bias"] = tf.add(b, tf.mul(bb, st.scaling));
      }
    }
    return withParams(base, out);
  });
