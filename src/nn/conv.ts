/**
 * `conv2d`: torch `nn.Conv2d` semantics on NCHW inputs with OIHW weights
 * (cross-correlation, symmetric zero padding, stride, dilation, groups).
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../tree/node.js";
import { kaimingUniformA5, split, uniform, type Seed } from "./init.js";
import type { KindDef } from "./registry.js";

export type Conv2D = Node<"conv2d", "weight" | "bias">;

export interface Conv2dMeta {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/**
 * Cross-correlate an NCHW input with an OIHW weight (torch layout), with
 * optional bias of shape [out].
 */
export const conv2dNCHW = (
  x: tf.Tensor,
  weight: tf.Tensor,
  m: Pick<Conv2dMeta, "stride" | "padding" | "dilation" | "groups">,
  bias?: tf.Tensor,
): tf.Tensor => {
  const groups = m.groups;
  const xh = tf.transpose(x as tf.Tensor4D, [0, 2, 3, 1]);
  const padded =
    m.padding[0] === 0 && m.padding[1] === 0
      ? xh
      : tf.pad(xh, [
          [0, 0],
          [m.padding[0], m.padding[0]],
          [m.padding[1], m.padding[1]],
          [0, 0],
        ]);
  const w = tf.transpose(weight as tf.Tensor4D, [2, 3, 1, 0]); // HWIO
  const conv = (inp: tf.Tensor4D, filt: tf.Tensor4D): tf.Tensor4D =>
    tf.conv2d(inp, filt, [m.stride[0], m.stride[1]], "valid", "NHWC", [m.dilation[0], m.dilation[1]]);
  let y: tf.Tensor4D;
  if (groups === 1) {
    y = conv(padded as tf.Tensor4D, w);
  } else {
    const xs = tf.split(padded as tf.Tensor4D, groups, 3);
    const ws = tf.split(w, groups, 3);
    y = tf.concat(
      xs.map((xi, i) => conv(xi as tf.Tensor4D, ws[i] as tf.Tensor4D)),
      3,
    );
  }
  const yb: tf.Tensor4D = bias === undefined ? y : tf.add(y, bias);
  return tf.transpose(yb, [0, 3, 1, 2]);
};

export const conv2dKind: KindDef = {
  kind: "conv2d",
  doc: "torch nn.Conv2d on NCHW input, weight [out, in/groups, kh, kw]",
  forward: (n, x) => conv2dNCHW(x, n.params["weight"] as tf.Tensor, n.meta as unknown as Conv2dMeta, n.params["bias"]),
};

const pair = (v: number | readonly [number, number] | undefined, d: number): readonly [number, number] =>
  v === undefined ? [d, d] : typeof v === "number" ? [v, v] : v;

/** A `conv2d` node with torch's default init. */
export const conv2d = (
  cfg: {
    readonly inChannels: number;
    readonly outChannels: number;
    readonly kernelSize: number | readonly [number, number];
    readonly stride?: number | readonly [number, number];
    readonly padding?: number | readonly [number, number];
    readonly dilation?: number | readonly [number, number];
    readonly groups?: number;
    readonly bias?: boolean;
  },
  seed: Seed,
): Conv2D => {
  const k = pair(cfg.kernelSize, 1);
  const groups = cfg.groups ?? 1;
  const fanIn = (cfg.inChannels / groups) * k[0] * k[1];
  const meta: Conv2dMeta = {
    inChannels: cfg.inChannels,
    outChannels: cfg.outChannels,
    kernelSize: k,
    stride: pair(cfg.stride, 1),
    padding: pair(cfg.padding, 0),
    dilation: pair(cfg.dilation, 1),
    groups,
  };
  return node("conv2d", {
    params: {
      weight: kaimingUniformA5([cfg.outChannels, cfg.inChannels / groups, k[0], k[1]], fanIn, split(seed, "weight")),
      ...(cfg.bias ?? true ? { bias: uniform([cfg.outChannels], 1 / Math.sqrt(fanIn), split(seed, "bias")) } : {}),
    } as Record<"weight" | "bias", tf.Tensor>,
    meta: meta as unknown as Record<string, unknown>,
  });
};
