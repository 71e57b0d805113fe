/**
 * Parameter-free layers: activations (`activation` with `meta.fn`), `dropout`
 * (active only in training mode) and `flatten`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { asCustom, fusedEnabled } from "../backend/fused.js";
import { geluTanhNative } from "../backend/native-pointwise.js";
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

/** 2·√(2/π) and 2·√(2/π)·0.044715: ½(1 + tanh u) = σ(2u). */
const K1 = 2 * SQRT_2_OVER_PI;
const K2 = K1 * 0.044715;

/** σ(2·√(2/π)·(x + 0.044715·x³)), given x². */
const geluGate = (x: tf.Tensor, x2: tf.Tensor): tf.Tensor => tf.sigmoid(tf.mul(x, tf.add(tf.mul(x2, K2), K1)));

/** {@link geluTanh} as ops with a hand-written gradient (`tf.customGrad`): the form used without the native kernels. */
export const geluTanhFused = tf.customGrad(
  asCustom((x, save) => {
    const s = geluGate(x, tf.square(x));
    save([x, s]);
    return {
      value: tf.mul(x, s),
      // d/dx x·σ(2u) = σ + x·σ·(1 − σ)·2u′, 2u′ = 2√(2/π)·(1 + 3·0.044715·x²)
      gradFunc: (dy, [a, sa]) => {
        const v = a as tf.Tensor;
        const sg = sa as tf.Tensor;
        const slope = tf.mul(tf.mul(v, tf.add(tf.mul(tf.square(v), 3 * K2), K1)), tf.sub(sg, tf.square(sg)));
        return tf.mul(dy, tf.add(sg, slope));
      },
    };
  }),
);

/**
 * GELU, tanh approximation (GPT-2's `gelu_new`, HF's `gelu_pytorch_tanh`):
 * `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as the identical
 * `x·σ(2·√(2/π)·(x + 0.044715·x³))` with a hand-written gradient. Why: the
 * wasm backend's `Tanh` (and `Pow`) are scalar libm loops (~25 ms per million
 * elements), its `Sigmoid` and arithmetic are XNNPACK's vectorised kernels
 * (~1 ms); a GPT-2 step spent ~100 ms in `Tanh`. With the native addon it is
 * one kernel each way (src/backend/native-pointwise.ts). float32 only; other dtypes
 * (and `PEFT_TS_FUSED=0`) take {@link geluTanhComposite}.
 */
export const geluTanh = (x: tf.Tensor): tf.Tensor =>
  geluTanhNative(x) ?? (x.dtype === "float32" && fusedEnabled() ? geluTanhFused(x) : geluTanhComposite(x));

/** GELU, tanh approximation, composed from tfjs ops as written (autodiff gradient): the reference for {@link geluTanh}. */
export const geluTanhComposite = (x: tf.Tensor): tf.Tensor => {
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
