/**
 * Where a builder's parameters come from. One builder per architecture serves
 * three purposes through a `ParamSource`: fresh Hugging Face init
 * ({@link randomInit}), loading a checkpoint without allocating random weights
 * first ({@link stateDictSource}), and listing the expected keys and shapes
 * ({@link recordShapes}) without allocating anything.
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../../tree/node.js";
import { split, type Seed } from "../../nn/init.js";
import type { StateDict } from "../../tree/params.js";

/** How a parameter is initialised when it is made fresh (HF `_init_weights`). */
export type Init =
  | { readonly _tag: "normal"; readonly std: number; readonly zeroRow?: number | undefined }
  | { readonly _tag: "zeros" }
  | { readonly _tag: "ones" };

/**
 * `N(0, std²)`, optionally with one row zeroed (an embedding's `padding_idx`).
 *
 * @example
 *   src("lm_head.weight", [V, D], normalInit(0.02))
 */
export const normalInit = (std: number, zeroRow?: number): Init => ({ _tag: "normal", std, zeroRow });

/**
 * Zeros (biases).
 *
 * @example
 *   src("score.bias", [numLabels], zerosInit)
 */
export const zerosInit: Init = { _tag: "zeros" };

/**
 * Ones (norm weights).
 *
 * @example
 *   src("model.norm.weight", [D], onesInit)
 */
export const onesInit: Init = { _tag: "ones" };

/** Makes (or finds) the tensor for a state-dict key. */
export type ParamSource = (key: string, shape: ReadonlyArray<number>, init: Init) => tf.Tensor;

/**
 * Fresh weights as transformers initialises them; each key gets its own
 * sub-seed, so adding a layer does not change the others.
 *
 * @example
 *   const model = buildGpt2(config, { source: randomInit(0) })
 */
export const randomInit =
  (seed: Seed): ParamSource =>
  (key, shape, init) => {
    switch (init._tag) {
      case "zeros":
        return tf.zeros([...shape]);
      case "ones":
        return tf.ones([...shape]);
      case "normal": {
        const row = init.zeroRow;
        return tf.tidy(() => {
          const w = tf.randomNormal([...shape], 0, init.std, "float32", split(seed, key));
          if (row === undefined || shape.length !== 2 || row < 0 || row >= (shape[0] as number)) return w;
          const keep = tf.notEqual(tf.range(0, shape[0] as number, 1, "int32"), row);
          return tf.mul(w, tf.expandDims(tf.cast(keep, "float32"), 1));
        });
      }
    }
  };

/** Keys a state dict lacked or had in excess, shapes that disagreed, and keys made fresh instead. */
export interface SourceReport {
  readonly missing: ReadonlyArray<string>;
  readonly unexpected: ReadonlyArray<string>;
  readonly shapes: ReadonlyArray<string>;
  readonly initialized: ReadonlyArray<string>;
}

/**
 * Take every parameter from a state dict (shapes checked). A missing key that
 * `fresh` allows is made by `fallback` (a task head absent from a base
 * checkpoint, as transformers does); other missing or mis-shaped keys get a
 * zero placeholder and are listed by `report()`, so a loader can build the
 * whole tree and then fail with every problem at once.
 *
 * @example
 *   const src = stateDictSource(sd); const m = build(config, src.source);
 *   const r = src.report(); // { missing: [], unexpected: ["lm_head.weight"], shapes: [], initialized: [] }
 */
export const stateDictSource = (
  sd: StateDict,
  o: { readonly fallback?: ParamSource; readonly fresh?: (key: string) => boolean } = {},
): { readonly source: ParamSource; readonly report: () => SourceReport; readonly placeholders: () => ReadonlyArray<tf.Tensor> } => {
  const used = new Set<string>();
  const missing: string[] = [];
  const shapes: string[] = [];
  const initialized: string[] = [];
  const made: tf.Tensor[] = [];
  const source: ParamSource = (key, shape, init) => {
    const t = sd[key];
    if (t === undefined) {
      if (o.fallback !== undefined && (o.fresh?.(key) ?? false)) {
        initialized.push(key);
        return o.fallback(key, shape, init);
      }
      missing.push(key);
    } else {
      used.add(key);
      if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t.dtype === "float32" ? t : tf.cast(t, "float32");
      shapes.push(`${key}: expected [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
    }
    const z = tf.zeros([...shape]);
    made.push(z);
    return z;
  };
  return {
    source,
    report: () => ({ missing, unexpected: Object.keys(sd).filter((k) => !used.has(k)), shapes, initialized }),
    placeholders: () => made,
  };
};

/**
 * List the keys and shapes a builder asks for, allocating one shared scalar
 * (dispose it with `done()`).
 *
 * @example
 *   const rec = recordShapes(); buildGpt2(cfg, { source: rec.source }); rec.done();
 *   rec.shapes.get("transformer.wte.weight") // [50, 32]
 */
export const recordShapes = (): {
  readonly source: ParamSource;
  readonly shapes: ReadonlyMap<string, ReadonlyArray<number>>;
  readonly done: () => void;
} => {
  const shapes = new Map<string, ReadonlyArray<number>>();
  let dummy: tf.Tensor | undefined;
  return {
    source: (key, shape) => {
      shapes.set(key, [...shape]);
      dummy ??= tf.scalar(0);
      return dummy;
    },
    shapes,
    done: () => dummy?.dispose(),
  };
};

// -------------------------------------------------------------------------------------
// leaf builders: the nn/ kinds, with their params taken from a source
// -------------------------------------------------------------------------------------

const key = (path: string, name: string): string => (path === "" ? name : `${path}.${name}`);

/**
 * A torch `nn.Linear` node (`weight` [out, in], optional `bias`) at `path`.
 *
 * @example
 *   const q = linearAt(src, "model.layers.0.self_attn.q_proj", 64, 64, { bias: false, std: 0.02 })
 */
export const linearAt = (
  src: ParamSource,
  path: string,
  inFeatures: number,
  outFeatures: number,
  o: { readonly bias: boolean; readonly std: number },
): Node =>
  node<"linear", string>("linear", {
    params: {
      weight: src(key(path, "weight"), [outFeatures, inFeatures], normalInit(o.std)),
      ...(o.bias ? { bias: src(key(path, "bias"), [outFeatures], zerosInit) } : {}),
    },
    meta: { inFeatures, outFeatures },
  });

/**
 * A transformers `Conv1D` node (`weight` [in, out], `bias`) at `path`.
 *
 * @example
 *   const cAttn = conv1dAt(src, "transformer.h.0.attn.c_attn", 768, 2304, 0.02)
 */
export const conv1dAt = (src: ParamSource, path: string, inFeatures: number, outFeatures: number, std: number): Node =>
  node("conv1d", {
    params: {
      weight: src(key(path, "weight"), [inFeatures, outFeatures], normalInit(std)),
      bias: src(key(path, "bias"), [outFeatures], zerosInit),
    },
    meta: { inFeatures, outFeatures },
  });

/**
 * An `nn.Embedding` node at `path` (`paddingIdx` row zero when fresh).
 *
 * @example
 *   const wte = embeddingAt(src, "transformer.wte", 50257, 768, { std: 0.02 })
 */
export const embeddingAt = (
  src: ParamSource,
  path: string,
  numEmbeddings: number,
  dim: number,
  o: { readonly std: number; readonly paddingIdx?: number | undefined },
): Node =>
  node("embedding", {
    params: { weight: src(key(path, "weight"), [numEmbeddings, dim], normalInit(o.std, o.paddingIdx)) },
    meta: { numEmbeddings, embeddingDim: dim, ...(o.paddingIdx === undefined ? {} : { paddingIdx: o.paddingIdx }) },
  });

/**
 * An `nn.LayerNorm` node (weight 1, bias 0 when fresh).
 *
 * @example
 *   const ln = layerNormAt(src, "transformer.ln_f", 768, 1e-5)
 */
export const layerNormAt = (src: ParamSource, path: string, dim: number, eps: number): Node =>
  node("layerNorm", {
    params: { weight: src(key(path, "weight"), [dim], onesInit), bias: src(key(path, "bias"), [dim], zerosInit) },
    meta: { dim, eps },
  });

/**
 * An RMSNorm node (weight 1 when fresh).
 *
 * @example
 *   const norm = rmsNormAt(src, "model.norm", 4096, 1e-6)
 */
export const rmsNormAt = (src: ParamSource, path: string, dim: number, eps: number): Node =>
  node("rmsNorm", { params: { weight: src(key(path, "weight"), [dim], onesInit) }, meta: { dim, eps } });

/**
 * `a.b` joining that skips empty parts (`join("", "wte")` = `"wte"`).
 *
 * @example
 *   join("", "wte") // "wte";  join("transformer", "h", "0") // "transformer.h.0"
 */
export const join = (...parts: ReadonlyArray<string>): string => parts.filter((p) => p !== "").join(".");
