/**
 * The LoRA layer's forward: the base output plus each adapter's scaled
 * update (DoRA rescaled), with a fused fast path for a plain adapter on a
 * dense base.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { forward, type Ctx } from "../../nn/registry.js";
import { conv2dNCHW, type Conv2dMeta } from "../../nn/conv.js";
import { conv1dKind, dense, linearKind } from "../../nn/linear.js";
import { loraDense } from "../../backend/dense.js";
import { asIds } from "../../nn/embedding.js";
import { stopGradient } from "../../nn/ops.js";
import { baseLayer, innermostBase, settingsOf, slotModule, slotParam, hasSlot } from "../layer.js";
import type { LoraSettings } from "./settings.js";
import { doraWeightNorm, weightOf } from "./weights.js";

const drop = (x: tf.Tensor, p: number, ctx: Ctx): tf.Tensor => (ctx.training && p > 0 ? tf.dropout(x, p) : x);

/** Whether `n` runs the built-in `kind` forward (no bias unless `bias`), so a fused op may stand in for it. */
const builtinDense = (n: Node, ctx: Ctx, bias: boolean): boolean =>
  ((n.kind === "linear" && ctx.kinds.get("linear") === linearKind) || (n.kind === "conv1d" && ctx.kinds.get("conv1d") === conv1dKind)) &&
  n.params["weight"] !== undefined &&
  (bias || n.params["bias"] === undefined);

/**
 * The first of `adapters` that the fused LoRA dense op (../../backend/dense.ts)
 * can fold into the base product, or undefined: a plain `linear`/`conv1d`
 * base (not a nested adapter, built-in forward), and an adapter without DoRA,
 * without `lora_bias`, whose dropout is inactive (eval, or p = 0).
 */
const fusableAdapter = (layer: Node, base: Node, x: tf.Tensor, ctx: Ctx, adapters: ReadonlyArray<string>): string | undefined => {
  if (base !== innermostBase(base) || !builtinDense(base, ctx, true) || x.rank < 1) return undefined;
  return adapters.find((a) => {
    if (!hasSlot(layer, "lora_A", a) || !hasSlot(layer, "lora_B", a)) return false;
    const st = settingsOf<LoraSettings>(layer, a);
    if (st.useDora || (ctx.training && st.dropout > 0)) return false;
    const la = slotModule(layer, "lora_A", a);
    const lb = slotModule(layer, "lora_B", a);
    return la.kind === "linear" && lb.kind === "linear" && builtinDense(la, ctx, false) && builtinDense(lb, ctx, false);
  });
};

/**
 * base(x) + s·B(A(x)) with one fused op (native GEMM only): the base product,
 * its bias and the adapter accumulate into one output, and the gradients are
 * fused kernels too. Undefined when the op declines.
 */
const fusedBaseAndAdapter = (layer: Node, base: Node, x: tf.Tensor, adapter: string): tf.Tensor | undefined => {
  const w = weightOf(base);
  const transposeW = base.kind === "linear";
  const inDim = x.shape[x.shape.length - 1] as number;
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]);
  const st = settingsOf<LoraSettings>(layer, adapter);
  const y2 = loraDense(
    x2, w, transposeW, base.params["bias"],
    weightOf(slotModule(layer, "lora_A", adapter)), weightOf(slotModule(layer, "lora_B", adapter)), st.scaling,
  );
  if (y2 === undefined) {
    if (x2 !== x) x2.dispose();
    return undefined;
  }
  return x.rank === 2 ? y2 : tf.reshape(y2, [...x.shape.slice(0, -1), y2.shape[1] as number]);
};

/**
 * The adapted layer's output with the given adapters summed on top of the base.
 *
 * Fast path: on the native GEMM, the first adapter that is plain (see
 * `fusableAdapter`: linear/conv1d base, no DoRA, no `lora_bias`, dropout
 * inactive) is folded into the base product by the fused `loraDense` op; any
 * other adapters are then added as below. Everything else takes the composite
 * path unchanged.
 */
export const loraForward = (layer: Node, x: tf.Tensor, ctx: Ctx, adapters: ReadonlyArray<string>): tf.Tensor => {
  const base = baseLayer(layer);
  const inner = innermostBase(base);
  const fusable = fusableAdapter(layer, base, x, ctx, adapters);
  const fused = fusable === undefined ? undefined : fusedBaseAndAdapter(layer, base, x, fusable);
  let y = fused ?? forward(base, x, ctx);
  for (const a of adapters) {
    if (fused !== undefined && a === fusable) continue;
    const st = settingsOf<LoraSettings>(layer, a);
    if (inner.kind === "embedding") {
      const ids = asIds(x);
      const aT = tf.transpose(slotParam(layer, "lora_embedding_A", a));
      const after = dense(tf.gather(aT, ids), slotParam(layer, "lora_embedding_B", a), true);
      if (st.useDora) {
        const scale = tf.div(slotParam(layer, "lora_magnitude_vector", a), stopGradient(doraWeightNorm(layer, a)));
        y = tf.add(tf.mul(y, scale), tf.mul(tf.mul(after, scale), st.scaling));
      } else {
        y = tf.add(y, tf.mul(after, st.scaling));
      }
      continue;
    }
    const xd = drop(x, st.dropout, ctx);
    const loraB = slotModule(layer, "lora_B", a);
    const h = forward(slotModule(layer, "lora_A", a), xd, ctx);
    if (!st.useDora && loraB.kind === "linear" && loraB.params["bias"] === undefined) {
      // B·(s·h) = s·(B·h): scale the rank-r intermediate, not the [.., out] result
      y = tf.add(y, forward(loraB, tf.mul(h, st.scaling), ctx));
      continue;
    }
    const lora = forward(loraB, h, ctx);
    if (!st.useDora) {
      y = tf.add(y, tf.mul(lora, st.scaling));
      continue;
    }
    const norm = stopGradient(doraWeightNorm(layer, a));
    const scale = tf.div(slotParam(layer, "lora_magnitude_vector", a), norm);
    const plain =
      inner.kind === "conv2d"
        ? conv2dNCHW(xd, weightOf(inner), inner.meta as unknown as Conv2dMeta)
        : dense(xd, weightOf(inner), inner.kind === "linear");
    const bScale = inner.kind === "conv2d" ? scale : tf.reshape(scale, [-1]);
    y = tf.add(y, tf.add(tf.mul(tf.sub(bScale, 1), plain), tf.mul(tf.mul(bScale, lora), st.scaling)));
  }
  return y;
};
