/** Normalisation layers: `layerNorm` (torch nn.LayerNorm over the last axis) and `rmsNorm` (LLaMA). */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../tree/node.js";
import type { KindDef } from "./registry.js";

export type LayerNorm = Node<"layerNorm", "weight" | "bias">;
export type RmsNorm = Node<"rmsNorm", "weight">;

/** (x − mean) / √(var + eps) · w + b over the last axis (biased variance, as torch). */
export const layerNormOf = (x: tf.Tensor, eps: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axis, true);
  let y = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  if (w !== undefined) y = tf.mul(y, w);
  if (b !== undefined) y = tf.add(y, b);
  return y;
};

export const layerNormKind: KindDef = {
  kind: "layerNorm",
  doc: "torch nn.LayerNorm over the last axis",
  forward: (n, x) => layerNormOf(x, (n.meta["eps"] as number | undefined) ?? 1e-5, n.params["weight"], n.params["bias"]),
};

/** x · rsqrt(mean(x²) + eps) · w (LLaMA RMSNorm). */
export const rmsNormKind: KindDef = {
  kind: "rmsNorm",
  doc: "x / √(mean(x²) + eps) · w",
  forward: (n, x) => {
    const eps = (n.meta["eps"] as number | undefined) ?? 1e-6;
    const ms = tf.mean(tf.square(x), x.rank - 1, true);
    const y = tf.mul(x, tf.rsqrt(tf.add(ms, eps)));
    const w = n.params["weight"];
    return w === undefined ? y : tf.mul(y, w);
  },
};

/** A `layerNorm` node (weight 1, bias 0). */
export const layerNorm = (cfg: { readonly dim: number; readonly eps?: number; readonly bias?: boolean }): LayerNorm =>
  node("layerNorm", {
    params: {
      weight: tf.ones([cfg.dim]),
      ...(cfg.bias ?? true ? { bias: tf.zeros([cfg.dim]) } : {}),
    } as Record<"weight" | "bias", tf.Tensor>,
    meta: { dim: cfg.dim, eps: cfg.eps ?? 1e-5 },
  });

/** An `rmsNorm` node (weight 1). */
export const rmsNorm = (cfg: { readonly dim: number; readonly eps?: number }): RmsNorm =>
  node("rmsNorm", { params: { weight: tf.ones([cfg.dim]) }, meta: { dim: cfg.dim, eps: cfg.eps ?? 1e-6 } });
