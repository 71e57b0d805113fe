/**
 * LoRA on the four layer kinds PEFT adapts: `linear`, `conv1d` (GPT-2, the
 * `fan_in_fan_out` layout), `conv2d` and `embedding`; with DoRA, rsLoRA,
 * `lora_bias` and LoRA dropout. Every formula is PEFT's (src/peft/tuners/lora/
 * layer.py and dora.py), restated in the field's notation:
 *
 *   linear:     y = base(x) + s · B(A(drop(x)))                    Δ = s·B·A
 *   embedding:  y = base(ids) + s · Aᵀ[ids] · Bᵀ                    Δ = s·(B·A)ᵀ
 *   conv2d:     y = base(x) + s · B(A(drop(x))), A: k×k conv, B: 1×1 conv
 *   DoRA:       W' = m ⊙ (W + Δ) / ‖W + Δ‖ (norm per output unit, not differentiated)
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, withParams, type Node } from "../../tree/node.js";
import { toString } from "../../tree/path.js";
import { forward, type Ctx } from "../../nn/registry.js";
import { kaimingUniformA5, normal, split, uniform } from "../../nn/init.js";
import { conv2dNCHW, type Conv2dMeta } from "../../nn/conv.js";
import { conv1dKind, dense, linearKind } from "../../nn/linear.js";
import { loraDense } from "../../backend/dense.js";
import { asIds } from "../../nn/embedding.js";
import { stopGradient, tidy } from "../../nn/ops.js";
import { baseLayer, innermostBase, settingsOf, slotModule, slotParam, hasSlot } from "../layer.js";
import { patternKey } from "../target.js";
import type { CreateArgs, Created } from "../types.js";
import type { LoraConfig } from "./config.js";

/** What a LoRA adapter keeps on each layer. */
export interface LoraSettings {
  readonly r: number;
  readonly alpha: number;
  readonly scaling: number;
  readonly dropout: number;
  readonly useDora: boolean;
  readonly loraBias: boolean;
}

export const loraSlots = ["lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"] as const;

/** r, α and the scaling for one module, after `rank_pattern`/`alpha_pattern`. */
export const loraSettingsFor = (config: LoraConfig, module: string): LoraSettings => {
  const rk = patternKey(config.rankPattern, module);
  const ak = patternKey(config.alphaPattern, module);
  const r = rk === undefined ? config.r : (config.rankPattern[rk] as number);
  const alpha = ak === undefined ? config.loraAlpha : (config.alphaPattern[ak] as number);
  return {
    r,
    alpha,
    scaling: config.useRslora ? alpha / Math.sqrt(r) : alpha / r,
    dropout: config.loraDropout,
    useDora: config.useDora,
    loraBias: config.loraBias,
  };
};

const weightOf = (n: Node): tf.Tensor => {
  const w = n.params["weight"];
  if (w === undefined) throw new Error(`layer of kind '${n.kind}' has no weight`);
  return w;
};

/** The base weight as [out, in] (transposing GPT-2's Conv1D layout). */
const outIn = (base: Node, w: tf.Tensor = weightOf(base)): tf.Tensor => (base.kind === "conv1d" ? tf.transpose(w) : w);

const checkInit = (init: boolean | string): "kaiming" | "gaussian" | "random" => {
  if (init === true) return "kaiming";
  if (init === false) return "random";
  if (init.toLowerCase() === "gaussian") return "gaussian";
  throw new Error(
    `init_lora_weights='${init}' is not supported (supported: true, false, "gaussian"); data-driven inits (PiSSA, OLoRA, LoftQ, EVA, CorDA) are not implemented yet`,
  );
};

const linearNode = (weight: tf.Tensor, bias?: tf.Tensor): Node =>
  node<"linear", string>("linear", {
    params: bias === undefined ? { weight } : { weight, bias },
    meta: { inFeatures: weight.shape[1], outFeatures: weight.shape[0] },
  });

/** One LoRA adapter's slots for one layer, initialised as PEFT does. */
export const createLora = ({ config, adapter, path, base, seed, loading }: CreateArgs<LoraConfig>): Created => {
  const inner = innermostBase(base);
  const s = loraSettingsFor(config, toString(path));
  const init = loading ? "kaiming" : checkInit(config.initLoraWeights);
  const key = (label: string) => split(seed, `${toString(path)}/${adapter}/${label}`);
  const w = weightOf(inner);
  const r = s.r;
  return tidy(() => {
    let slots: Record<string, Node | tf.Tensor>;
    if (inner.kind === "linear" || inner.kind === "conv1d") {
      const [outF, inF] = inner.kind === "linear" ? w.shape : [w.shape[1], w.shape[0]];
      const a =
        init === "gaussian" ? normal([r, inF as number], 1 / r, key("A")) : kaimingUniformA5([r, inF as number], inF as number, key("A"));
      const b = init === "random" ? uniform([outF as number, r], 1 / Math.sqrt(r), key("B")) : tf.zeros([outF as number, r]);
      const bb = s.loraBias ? (init === "random" ? uniform([outF as number], 1 / Math.sqrt(r), key("Bb")) : tf.zeros([outF as number])) : undefined;
      slots = { lora_A: linearNode(a), lora_B: linearNode(b, bb) };
    } else if (inner.kind === "conv2d") {
      const m = inner.meta as unknown as Conv2dMeta;
      const [outC, inC, kh, kw] = w.shape as [number, number, number, number];
      if (m.groups !== 1) throw new Error(`${toString(path)}: LoRA on grouped conv2d (groups=${m.groups}) is not supported`);
      const fanIn = inC * kh * kw;
      const a =
        init === "gaussian" ? normal([r, inC, kh, kw], 1 / r, key("A")) : kaimingUniformA5([r, inC, kh, kw], fanIn, key("A"));
      const b = init === "random" ? uniform([outC, r, 1, 1], 1 / Math.sqrt(r), key("B")) : tf.zeros([outC, r, 1, 1]);
      const bb = s.loraBias ? (init === "random" ? uniform([outC], 1 / Math.sqrt(r), key("Bb")) : tf.zeros([outC])) : undefined;
      const convMeta = (inCh: number, outCh: number, k: readonly [number, number], stride: readonly [number, number], padding: readonly [number, number], dilation: readonly [number, number]) =>
        ({ inChannels: inCh, outChannels: outCh, kernelSize: k, stride, padding, dilation, groups: 1 }) satisfies Conv2dMeta;
      slots = {
        lora_A: node("conv2d", { params: { weight: a }, meta: convMeta(inC, r, [kh, kw], m.stride, m.padding, m.dilation) }),
        lora_B: node<"conv2d", string>("conv2d", {
          params: bb === undefined ? { weight: b } : { weight: b, bias: bb },
          meta: convMeta(r, outC, [1, 1], [1, 1], [0, 0], [1, 1]),
        }),
      };
    } else if (inner.kind === "embedding") {
      const [num, dim] = w.shape as [number, number];
      if (s.loraBias) throw new Error(`${toString(path)}: lora_bias is not supported for embeddings (PEFT neither)`);
      const a = init === "random" ? normal([r, num], 1, key("A")) : init === "gaussian" ? tf.zeros([r, num]) : tf.zeros([r, num]);
      const b = normal([dim, r], 1, key("B"));
      slots = { lora_embedding_A: a, lora_embedding_B: b };
    } else {
      throw new Error(`${toString(path)}: LoRA cannot adapt a '${inner.kind}' layer (supported: linear, conv1d, conv2d, embedding)`);
    }
    if (s.useDora) {
      const probe = node("lora", { children: { base_layer: base, ...dictsOf(slots, adapter) }, meta: { peftType: "LORA", adapters: { [adapter]: s } } });
      slots = { ...slots, lora_magnitude_vector: doraWeightNorm(probe, adapter) };
    }
    return { slots, settings: s as unknown as Record<string, unknown> };
  });
};

const dictsOf = (slots: Readonly<Record<string, Node | tf.Tensor>>, adapter: string): Record<string, Node> =>
  Object.fromEntries(
    Object.entries(slots).map(([k, v]) => [k, v instanceof tf.Tensor ? node("dict", { params: { [adapter]: v } }) : node("dict", { children: { [adapter]: v } })]),
  );

// -------------------------------------------------------------------------------------
// weights
// -------------------------------------------------------------------------------------

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

// -------------------------------------------------------------------------------------
// forward
// -------------------------------------------------------------------------------------

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
