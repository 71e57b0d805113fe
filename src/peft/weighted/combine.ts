/**
 * The per-layer arithmetic of {@link addWeightedAdapter} (../weighted.ts):
 * a combined adapter's A and B from the sources' factors, by PEFT's rules for
 * each combination type, and the slots that hold them on the layer.
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../../tree/node.js";
import { slotModule } from "../../tuners/layer.js";
import { svd, svdOfProduct, type Svd } from "../../math/svd.js";
import * as TM from "../../math/task-merge.js";
import { invalid, refuse, type CombinationType, type WeightedAdapterOptions } from "./options.js";

/** One source adapter on one layer: its factors and scaling. */
export interface Source {
  readonly weight: number;
  readonly scaling: number;
  readonly a: tf.Tensor;
  readonly b: tf.Tensor;
}

const flat = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

/** A (⋯) and B (⋯) for the combination, by PEFT's rules; returned tensors are new. */
export const combineLayer = (
  kind: CombinationType,
  sources: ReadonlyArray<Source>,
  newRank: number,
  o: WeightedAdapterOptions,
  rand: () => number,
  where: string,
): { a: tf.Tensor; b: tf.Tensor } => {
  const first = sources[0] as Source;
  const aRest = first.a.shape.slice(1);
  const bOut = first.b.shape[0] as number;
  const bRest = first.b.shape.slice(2);
  if (kind === "cat") {
    return tf.tidy(() => {
      const as = sources.map((s) => tf.mul(tf.mul(s.a, s.weight), s.scaling));
      const bs = sources.map((s) => s.b);
      const used = sources.reduce((n, s) => n + (s.a.shape[0] as number), 0);
      if (used < newRank) {
        as.push(tf.zeros([newRank - used, ...aRest]));
        bs.push(tf.zeros([bOut, newRank - used, ...bRest]));
      }
      return { a: tf.concat(as, 0), b: tf.concat(bs, 1) };
    });
  }
  const merge = (tasks: ReadonlyArray<Float32Array>, weights: ReadonlyArray<number>): Float32Array => {
    const base = kind.replace(/_svd$/, "");
    const density = o.density as number;
    switch (base) {
      case "linear":
      case "svd":
        return TM.taskArithmetic(tasks, weights);
      case "ties":
        return TM.ties(tasks, weights, density, o.majoritySignMethod ?? "total");
      case "dare_linear":
        return TM.dareLinear(tasks, weights, density, rand);
      case "dare_ties":
        return TM.dareTies(tasks, weights, density, rand, o.majoritySignMethod ?? "total");
      case "magnitude_prune":
        return TM.magnitudePrune(tasks, weights, density);
      default:
        return invalid(`invalid combination_type '${kind}'`);
    }
  };
  if (!kind.endsWith("svd")) {
    for (const s of sources) {
      if (s.a.shape[0] !== newRank || s.b.shape[1] !== newRank) {
        return refuse({
          _tag: "RankMismatch",
          message: `${where}: combination_type '${kind}' needs every adapter at rank ${newRank} on each layer, found A ${JSON.stringify(s.a.shape)}`,
        });
      }
    }
    // the sign goes on A only, so a negative weight subtracts (PEFT ≥ 0.15)
    const ws = sources.map((s) => s.weight * s.scaling);
    const wa = ws.map((w) => Math.sqrt(Math.abs(w)) * (w >= 0 ? 1 : -1));
    const wb = ws.map((w) => Math.sqrt(Math.abs(w)));
    const a = merge(sources.map((s) => flat(s.a)), wa);
    const b = merge(sources.map((s) => flat(s.b)), wb);
    return { a: tf.tensor(a, first.a.shape, "float32"), b: tf.tensor(b, first.b.shape, "float32") };
  }
  // Δᵢ = sᵢ·BᵢAᵢ as [out, in·kh·kw] (PEFT's get_delta_weight, flattened and oriented as B·A)
  const inFlat = aRest.reduce((p, d) => p * d, 1);
  const inner = sources.reduce((n, s) => n + (s.a.shape[0] as number), 0);
  const { u, s, vh, k } =
    kind === "svd" && o.svdClamp === undefined && inner < Math.min(bOut, inFlat)
      ? svdOfFactors(sources, bOut, inner, inFlat)
      : svd(
          merge(
            sources.map((src) =>
              tf.tidy(() => {
                const ba = tf.matMul(tf.reshape(src.b, [bOut, -1]), tf.reshape(src.a, [src.a.shape[0] as number, inFlat]));
                return flat(tf.mul(ba, src.scaling));
              }),
            ),
            sources.map((src) => src.weight * src.scaling),
          ),
          bOut,
          inFlat,
        );
  const keep = Math.min(k, newRank);
  const us = new Float32Array(bOut * newRank);
  const v = new Float32Array(newRank * inFlat);
  for (let i = 0; i < bOut; i++) for (let j = 0; j < keep; j++) us[i * newRank + j] = (u[i * k + j] as number) * (s[j] as number);
  for (let j = 0; j < keep; j++) for (let i = 0; i < inFlat; i++) v[j * inFlat + i] = vh[j * inFlat + i] as number;
  if (o.svdClamp !== undefined) {
    const hi = TM.quantile([...us, ...v], o.svdClamp);
    const clamp = (x: number): number => Math.min(Math.max(x, -hi), hi);
    us.forEach((x, i) => (us[i] = clamp(x)));
    v.forEach((x, i) => (v[i] = clamp(x)));
  }
  return { a: tf.tensor(v, [newRank, ...aRest], "float32"), b: tf.tensor(us, [bOut, newRank, ...bRest], "float32") };
};

/**
 * Plain `svd`'s Δ = Σ wᵢsᵢ·(sᵢBᵢAᵢ) = B̃·Ã with B̃ = [w₁s₁²B₁ | w₂s₂²B₂ | …]
 * and Ã = [A₁; A₂; …] (inner rank Σ rᵢ), decomposed from its factors
 * (`svdOfProduct`): the same product PEFT decomposes, without forming the
 * [out, in] matrix or a Jacobi SVD of it.
 */
const svdOfFactors = (sources: ReadonlyArray<Source>, out: number, inner: number, inFlat: number): Svd => {
  const bt = new Float64Array(out * inner);
  const at = new Float64Array(inner * inFlat);
  let col = 0;
  for (const src of sources) {
    const r = src.a.shape[0] as number;
    const c = src.weight * src.scaling * src.scaling;
    const b = flat(src.b);
    const a = flat(src.a);
    for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) bt[i * inner + col + j] = c * (b[i * r + j] as number);
    at.set(a, col * inFlat);
    col += r;
  }
  return svdOfProduct(bt, at, out, inner, inFlat);
};

/** The new adapter's slot entries on a layer, shaped like the source's. */
export const slotsFor = (layer: Node, template: string, embedding: boolean, a: tf.Tensor, b: tf.Tensor): Record<string, Node | tf.Tensor> => {
  if (embedding) return { lora_embedding_A: a, lora_embedding_B: b };
  const ta = slotModule(layer, "lora_A", template);
  const tb = slotModule(layer, "lora_B", template);
  const r = a.shape[0] as number;
  const metaA = ta.kind === "conv2d" ? { ...ta.meta, outChannels: r } : { ...ta.meta, inFeatures: a.shape[1], outFeatures: r };
  const metaB = tb.kind === "conv2d" ? { ...tb.meta, inChannels: r } : { ...tb.meta, inFeatures: r, outFeatures: b.shape[0] };
  const { trainable: _a, ...cleanA } = metaA as Record<string, unknown>;
  const { trainable: _b, ...cleanB } = metaB as Record<string, unknown>;
  return {
    lora_A: node(ta.kind, { params: { weight: a }, meta: cleanA }),
    lora_B: node(tb.kind, { params: { weight: b }, meta: cleanB }),
  };
};
