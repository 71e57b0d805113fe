/** Normalisation layers: `layerNorm` (torch nn.LayerNorm over the last axis) and `rmsNorm` (LLaMA). */
import * as tf from "@tensorflow/tfjs-core";
import { fusedEnabled } from "../backend/fused.js";
import { layerNormNative, rmsNormNative } from "../backend/native-norm.js";
import { node, type Node } from "../tree/node.js";
import type { KindDef } from "./registry.js";

export type LayerNorm = Node<"layerNorm", "weight" | "bias">;
export type RmsNorm = Node<"rmsNorm", "weight">;

/**
 * (x − mean) / √(var + eps) · w + b over the last axis (biased variance, as
 * torch). With the native addon, one kernel each way
 * (src/backend/native-norm.ts); otherwise float32 takes
 * {@link layerNormFused}: the same forward ops with a hand-written backward
 * (~11 ops instead of autodiff's ~20; a GPT-2 step runs 9 of them);
 * `PEFT_TS_FUSED=0` and other dtypes take {@link layerNormComposite}.
 */
export const layerNormOf = (x: tf.Tensor, eps: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor =>
  (w !== undefined && b !== undefined ? layerNormNative(x, eps, w, b) : undefined) ??
  (x.dtype === "float32" && x.rank >= 1 && fusedEnabled() ? layerNormFused(x, eps, w, b) : layerNormComposite(x, eps, w, b));

/**
 * {@link layerNormComposite}'s forward with the gradient written out:
 * x̂ = (x − μ)·rstd, g = dy·w,
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dw = Σ dy·x̂, db = Σ dy
 * (sums over the leading axes). Saves x̂ and rstd.
 */
export const layerNormFused = (x: tf.Tensor, eps: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
  const axis = x.rank - 1;
  const lead = [...Array(axis).keys()];
  const inputs = [x, ...(w !== undefined ? [w] : []), ...(b !== undefined ? [b] : [])];
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xi, ...rest] = args.slice(0, -1) as tf.Tensor[];
    const wi = w !== undefined ? rest[0] : undefined;
    const bi = b !== undefined ? rest[w !== undefined ? 1 : 0] : undefined;
    const centered = tf.sub(xi as tf.Tensor, tf.mean(xi as tf.Tensor, axis, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps));
    const xh = tf.mul(centered, rstd);
    save([xh, rstd, ...(wi !== undefined ? [wi] : [])]);
    let y = wi !== undefined ? tf.mul(xh, wi) : xh;
    if (bi !== undefined) y = tf.add(y, bi);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxh, sr, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        const g = sw !== undefined ? tf.mul(dy, sw) : dy;
        const mg = tf.mean(g, axis, true);
        const mgx = tf.mean(tf.mul(g, sxh), axis, true);
        const dx = tf.mul(tf.sub(tf.sub(g, mg), tf.mul(sxh, mgx)), sr);
        const out = [dx];
        if (sw !== undefined) out.push(lead.length > 0 ? tf.sum(tf.mul(dy, sxh), lead) : tf.mul(dy, sxh));
        if (bi !== undefined) out.push(lead.length > 0 ? tf.sum(dy, lead) : dy);
        return out;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(...inputs);
};

/** {@link layerNormOf} composed from ops (autodiff gradient). */
export const layerNormComposite = (x: tf.Tensor, eps: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
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
  forward: (n, x) => rmsNormOf(x, (n.meta["eps"] as number | undefined) ?? 1e-6, n.params["weight"]),
};

/** x·rsqrt(mean(x²) + eps)·w over the last axis: one native kernel each way where available, else {@link rmsNormComposite}. */
export const rmsNormOf = (x: tf.Tensor, eps: number, w?: tf.Tensor): tf.Tensor =>
  (w !== undefined ? rmsNormNative(x, eps, w) : undefined) ?? rmsNormComposite(x, eps, w);

/** {@link rmsNormOf} composed from ops, as HF's LlamaRMSNorm writes it (autodiff gradient). */
export const rmsNormComposite = (x: tf.Tensor, eps: number, w?: tf.Tensor): tf.Tensor => {
  const ms = tf.mean(tf.square(x), x.rank - 1, true);
  const y = tf.mul(x, tf.rsqrt(tf.add(ms, eps)));
  return w === undefined ? y : tf.mul(y, w);
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
