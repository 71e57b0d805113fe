/**
 * Merging adapters into base weights, and undoing it.
 *
 * A merged layer keeps the `base_layer` it had before its first merge
 * (`meta.original`), so `unmerge(merge(t))` gives back the very same tensors —
 * exactly, not up to float error as a subtraction would (PEFT #1388).
 * `mergeAndUnload` drops the originals when memory matters.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Node } from "../tree/node.js";
import { mapChildren, node, setTrainable } from "../tree/node.js";
import { tensorsOf } from "../tree/dispose.js";
import { toString, type Path } from "../tree/path.js";
import { allFinite } from "../nn/ops.js";
import { baseLayer, layerMeta } from "../tuners/layer.js";
import { currentModule } from "../tuners/modules-to-save.js";
import { builtinTuners } from "../tuners/index.js";
import type { AnyTuner, TunerLayerMeta } from "../tuners/types.js";
import { peftState, withPeftState } from "./state.js";
import { rewriteAdapters } from "./walk.js";

/** Why a merge was refused. */
export type MergeError =
  | { readonly _tag: "NonFinite"; readonly path: string; readonly adapter: string; readonly message: string }
  | { readonly _tag: "NotMergeable"; readonly path: string; readonly peftType: string; readonly message: string }
  | { readonly _tag: "UnknownAdapter"; readonly adapter: string; readonly message: string };

export interface MergeOptions {
  /** Adapters to merge (default: the active ones). */
  readonly adapters?: ReadonlyArray<string>;
  /** Check merged weights for NaN/Inf before accepting them (PEFT's `safe_merge`). Default true. */
  readonly safe?: boolean;
  /** Tuners by PEFT type (default: the built-in ones). */
  readonly tuners?: ReadonlyMap<string, AnyTuner>;
}

class MergeFailure extends Error {
  constructor(readonly error: MergeError) {
    super(error.message);
  }
}

const tunerOf = (tuners: ReadonlyMap<string, AnyTuner>, layer: Node, p: Path): AnyTuner => {
  const t = tuners.get(layerMeta(layer).peftType);
  if (t === undefined) throw new Error(`${toString(p)}: no tuner registered for ${layerMeta(layer).peftType}`);
  return t;
};

/**
 * Fold adapters into the base weights of every layer that has them. Returns
 * `Left` (and allocates nothing that survives) when a merged weight would hold
 * NaN/Inf or the method cannot merge.
 *
 * @example
 *   const merged = E.getOrElseW((e) => { throw e })(merge(adapted))
 *   apply(merged, x) // ≈ apply(adapted, x), at the cost of the base forward alone
 */
export const merge = (tree: Node, options: MergeOptions = {}): E.Either<MergeError, Node> => {
  const state = peftState(tree);
  const names = options.adapters ?? state.active;
  for (const a of names) {
    if (!(a in state.adapters)) {
      return E.left({ _tag: "UnknownAdapter", adapter: a, message: `no adapter '${a}' (adapters: ${Object.keys(state.adapters).join(", ")})` });
    }
  }
  const tuners = options.tuners ?? builtinTuners;
  const made: Node[] = [];
  try {
    const out = rewriteAdapters(tree, {
      layer: (layer, p) => {
        const m = layerMeta(layer);
        const todo = names.filter((a) => a in m.adapters && !m.merged.includes(a));
        if (todo.length === 0) return layer;
        const tuner = tunerOf(tuners, layer, p);
        if (tuner.merge === undefined) {
          throw new MergeFailure({ _tag: "NotMergeable", path: toString(p), peftType: tuner.peftType, message: `${toString(p)}: ${tuner.peftType} cannot be merged` });
        }
        let base = baseLayer(layer);
        for (const a of todo) {
          base = tuner.merge(layer, a, base);
          made.push(base);
          if ((options.safe ?? true) && !Object.values(base.params).every(allFinite)) {
            throw new MergeFailure({ _tag: "NonFinite", path: toString(p), adapter: a, message: `${toString(p)}: merging adapter '${a}' gives NaN/Inf weights; nothing was merged` });
          }
        }
        const meta: TunerLayerMeta = { ...m, merged: [...m.merged, ...todo], original: m.original ?? baseLayer(layer) };
        return node(layer.kind, { params: layer.params, children: { ...layer.children, base_layer: base }, meta: meta as unknown as Record<string, unknown> });
      },
    });
    return E.right(out);
  } catch (e) {
    if (e instanceof MergeFailure) {
      const held = tensorsOf(tree);
      for (const b of made) for (const t of Object.values(b.params)) if (!held.has(t) && !t.isDisposed) t.dispose();
      return E.left(e.error);
    }
    throw e;
  }
};

/**
 * Restore every merged layer's original base layer (the same tensors).
 * The merged weights are then held only by the input tree.
 */
export const unmerge = (tree: Node): Node =>
  rewriteAdapters(tree, {
    layer: (layer) => {
      const m = layerMeta(layer);
      if (m.merged.length === 0) return layer;
      const { original, ...rest } = m;
      return node(layer.kind, {
        params: layer.params,
        children: { ...layer.children, base_layer: original ?? baseLayer(layer) },
        meta: { ...rest, merged: [] },
      });
    },
  });

/**
 * Merge, then drop the adapters: a plain model whose layers hold the merged
 * weights, and whose `modules_to_save` wrappers become the active copies.
 */
export const mergeAndUnload = (tree: Node, options: MergeOptions = {}): E.Either<MergeError, Node> =>
  E.map((merged: Node) =>
    withPeftState(
      rewriteAdapters(merged, { layer: (layer) => baseLayer(layer), wrapper: (w) => currentModule(w) }),
      { adapters: {}, active: [], disabled: false },
    ),
  )(merge(tree, options));

/** Every param frozen (nodes that already are are shared). */
const freezeAll = (n: Node): Node => setTrainable(mapChildren(n, freezeAll), false);

/**
 * Drop every adapter without merging: the base model back (unmerged originals
 * where layers were merged), frozen as `inject` left it — the biases that
 * `bias="all"|"lora_only"` marked trainable are frozen again. For a base
 * whose params were all frozen (as loaded), `unload(inject(m))` shares every
 * node of `m`.
 */
export const unload = (tree: Node): Node =>
  withPeftState(
    freezeAll(
      rewriteAdapters(tree, {
        layer: (layer) => layerMeta(layer).original ?? baseLayer(layer),
        wrapper: (w) => w.children["original_module"] as Node,
      }),
    ),
    { ...peftState(tree), adapters: {}, active: [] },
  );
