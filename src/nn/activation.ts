/**
 * Parameter-free layers: activations (`activation` with `meta.fn`), `dropout`
 * (active only in training mode) and `flatten`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../tree/node.js";
import type { KindDef } from "./registry.js";

export const activationNames = [
  "relu",
  "gelu",
  "gelu_new",
  "gelu_pytorch_tanh",
  "silu",
  "tanh",
  "sigmoid",
  "softmax",
  "log_softmax",
  "identity",
] as const;
export type ActivationName = (typeof activationNames)[number];

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, exact (erf) form: x·Φ(x). */
export const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));

/** GELU, tanh approximation (GPT-2's `gelu_new`). */
export const geluTanh = (x: tf.Tensor): tf.Tensor => {
  const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
};

/** Apply a named activation (Hugging Face's `ACT2FN` names). */
export const activate = (name: ActivationName, x: tf.Tensor): tf.Tensor => {
  switch (name) {
    case "relu":
      return tf.relu(x);
    case "gelu":
      return gelu(x);
    case "gelu_new":
    case "gelu_pytorch_tanh":
      return geluTanh(x);
    case "silu":
      return tf.mul(x, tf.sigmoid(x));
    case "tanh":
      return tf.tanh(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "softmax":
      return tf.softmax(x, -1);
    case "log_softmax":
      return tf.logSoftmax(x, -1);
    case "identity":
      return x;
  }
};

export const activationKind: KindDef = {
  kind: "activation",
  doc: "a named activation over the last axis (meta.fn)",
  forward: (n, x) => activate(n.meta["fn"] as ActivationName, x),
};

export const dropoutKind: KindDef = {
  kind: "dropout",
  doc: "inverted dropout with rate meta.p in training mode; identity in eval mode",
  forward: (n, x, ctx) => {
    const p = (n.meta["p"] as number | undefined) ?? 0;
    return ctx.training && p > 0 ? tf.dropout(x, p) : x;
  },
};

export const flattenKind: KindDef = {
  kind: "flatten",
  doc: "[B, ...] → [B, prod(...)] in row-major (C·H·W for NCHW) order",
  forward: (_n, x) => tf.reshape(x, [x.shape[0] as number, -1]),
};

/** An activation node. */
export const activation = (fn: ActivationName): Node<"activation", never> => node("activation", { meta: { fn } });

/** A dropout node. */
export const dropout = (p: number): Node<"dropout", never> => node("dropout", { meta: { p } });

/** A flatten node. */
export const flatten = (): Node<"flatten", never> => node("flatten");
