/**
 * Dense layers in both layouts the Hugging Face world uses:
 * `linear` (torch `nn.Linear`, weight [out, in], y = x·Wᵀ + b) and
 * `conv1d` (transformers' GPT-2 `Conv1D`, weight [in, out], y = x·W + b).
 */
import * as tf from "@tensorflow/tfjs-core";
import { denseNative } from "../backend/dense.js";
import { node, type Node } from "../tree/node.js";
import { kaimingUniformA5, split, uniform, type Seed } from "./init.js";
import type { KindDef } from "./registry.js";

export type Linear = Node<"linear", "weight" | "bias">;
export type Conv1D = Node<"conv1d", "weight" | "bias">;

/** `x·W` (or `x·Wᵀ`) + bias over the last axis of an input of any rank (one native kernel where available: src/backend/dense.ts). */
export const dense = (x: tf.Tensor, w: tf.Tensor, transposeW: boolean, bias?: tf.Tensor): tf.Tensor => {
  const inDim = x.shape[x.shape.length - 1] as number;
  const outDim = (transposeW ? w.shape[0] : w.shape[1]) as number;
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]);
  let y = denseNative(x2, w, transposeW, bias);
  if (y === undefined) {
    y = tf.matMul(x2, w, false, transposeW);
    if (bias !== undefined) y = tf.add(y, bias);
  }
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
};

export const linearKind: KindDef = {
  kind: "linear",
  doc: "y = x·Wᵀ + b, W: [out, in] (torch nn.Linear)",
  forward: (n, x) => dense(x, n.params["weight"] as tf.Tensor, true, n.params["bias"]),
};

export const conv1dKind: KindDef = {
  kind: "conv1d",
  doc: "y = x·W + b, W: [in, out] (transformers Conv1D, GPT-2)",
  forward: (n, x) => dense(x, n.params["weight"] as tf.Tensor, false, n.params["bias"]),
};

/**
 * A `linear` node with torch's default init (kaiming-uniform weight, uniform bias).
 *
 * @example
 *   const lin0 = linear({ inFeatures: 10, outFeatures: 20 }, 0)
 */
export const linear = (
  cfg: { readonly inFeatures: number; readonly outFeatures: number; readonly bias?: boolean },
  seed: Seed,
): Linear => {
  const bias = cfg.bias ?? true;
  const bound = 1 / Math.sqrt(cfg.inFeatures);
  return node("linear", {
    params: {
      weight: kaimingUniformA5([cfg.outFeatures, cfg.inFeatures], cfg.inFeatures, split(seed, "weight")),
      ...(bias ? { bias: uniform([cfg.outFeatures], bound, split(seed, "bias")) } : {}),
    } as Record<"weight" | "bias", tf.Tensor>,
    meta: { inFeatures: cfg.inFeatures, outFeatures: cfg.outFeatures },
  });
};

/** A GPT-2 `Conv1D` node, N(0, 0.02) weight and zero bias as transformers initialises it. */
export const conv1d = (
  cfg: { readonly inFeatures: number; readonly outFeatures: number; readonly std?: number },
  seed: Seed,
): Conv1D =>
  node("conv1d", {
    params: {
      weight: tf.randomNormal([cfg.inFeatures, cfg.outFeatures], 0, cfg.std ?? 0.02, "float32", split(seed, "weight")),
      bias: tf.zeros([cfg.outFeatures]),
    },
    meta: { inFeatures: cfg.inFeatures, outFeatures: cfg.outFeatures },
  });
