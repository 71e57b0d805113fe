/**
 * Managing a model's adapters: which are active, switching them all off,
 * deleting one, and which are trainable.
 */
import type { Node } from "../tree/node.js";
import { node, setTrainable } from "../tree/node.js";
import { layerMeta, removeFromLayer } from "../tuners/layer.js";
import { removeModuleToSave, type ModulesToSaveMeta } from "../tuners/modules-to-save.js";
import { peftState, updatePeftState } from "./state.js";
import { rewriteAdapters } from "./walk.js";

const withLayerFlags = (tree: Node, active: ReadonlyArray<string>, disabled: boolean): Node =>
  rewriteAdapters(tree, {
    layer: (l) => node(l.kind, { params: l.params, children: l.children, meta: { ...l.meta, active, disabled } }),
    wrapper: (w) =>
      node(w.kind, { params: w.params, children: w.children, meta: { ...w.meta, active, disabled } satisfies ModulesToSaveMeta }),
  });

/**
 * Make these adapters the active ones (several are summed, in order).
 *
 * @example
 *   const onlyB = setAdapter(model, "b")
 *   const both  = setAdapter(model, ["a", "b"])
 */
export const setAdapter = (tree: Node, names: string | ReadonlyArray<string>): Node => {
  const list = typeof names === "string" ? [names] : names;
  const state = peftState(tree);
  for (const n of list) {
    if (!(n in state.adapters)) throw new Error(`no adapter '${n}' (adapters: ${Object.keys(state.adapters).join(", ") || "none"})`);
  }
  return updatePeftState(withLayerFlags(tree, list, state.disabled), (s) => {
    s.active = [...list];
  });
};

/** All adapters off: every layer computes its base output (merged layers their original). */
export const disableAdapters = (tree: Node): Node => {
  const state = peftState(tree);
  return updatePeftState(withLayerFlags(tree, state.active, true), (s) => {
    s.disabled = true;
  });
};

/** Adapters back on. */
export const enableAdapters = (tree: Node): Node => {
  const state = peftState(tree);
  return updatePeftState(withLayerFlags(tree, state.active, false), (s) => {
    s.disabled = false;
  });
};

/**
 * Run `f` on the model with adapters disabled (PEFT's `with disable_adapter()`),
 * as a value: nothing is switched back because nothing was switched.
 *
 * @example
 *   const baseOut = withAdaptersDisabled(adapted, (m) => apply(m, x))
 */
export const withAdaptersDisabled = <A>(tree: Node, f: (disabled: Node) => A): A => f(disableAdapters(tree));

/**
 * Remove an adapter everywhere. If it was active, the remaining active ones
 * stay active, or the first remaining adapter becomes active (as PEFT).
 * Its tensors are then held only by the input tree (`disposeReplaced`).
 */
export const deleteAdapter = (tree: Node, name: string): Node => {
  const state = peftState(tree);
  if (!(name in state.adapters)) throw new Error(`no adapter '${name}' (adapters: ${Object.keys(state.adapters).join(", ") || "none"})`);
  const adapters = Object.keys(state.adapters).filter((a) => a !== name);
  let active = state.active.filter((a) => a !== name);
  if (active.length === 0 && adapters.length > 0) active = [adapters[0] as string];
  const stripped = rewriteAdapters(tree, {
    layer: (l) => removeFromLayer(l, name),
    wrapper: (w) => removeModuleToSave(w, name),
  });
  return updatePeftState(withLayerFlags(stripped, active, state.disabled), (s) => {
    delete s.adapters[name];
    s.active = active;
  });
};

/**
 * Make exactly these adapters' params trainable (PEFT does this implicitly in
 * `set_adapter`; here it is a separate, explicit step).
 */
export const setTrainableAdapters = (tree: Node, names: ReadonlyArray<string>): Node =>
  rewriteAdapters(tree, {
    layer: (l) => {
      const children: Record<string, Node> = { ...l.children };
      for (const [k, d] of Object.entries(l.children)) {
        if (k === "base_layer" || d.kind !== "dict") continue;
        const kids = Object.fromEntries(Object.entries(d.children).map(([a, c]) => [a, setTrainable(c, names.includes(a))]));
        const params = Object.keys(d.params).filter((a) => names.includes(a));
        children[k] = node("dict", { params: d.params, children: kids, meta: { ...d.meta, trainable: params } });
      }
      return node(l.kind, { params: l.params, children, meta: l.meta });
    },
    wrapper: (w) => {
      const d = w.children["modules_to_save"] as Node;
      const mark = (n: Node, on: boolean): Node =>
        setTrainable(node(n.kind, { params: n.params, children: Object.fromEntries(Object.entries(n.children).map(([k, c]) => [k, mark(c, on)])), meta: n.meta }), on);
      const kids = Object.fromEntries(Object.entries(d.children).map(([a, c]) => [a, mark(c, names.includes(a))]));
      return node(w.kind, { params: w.params, children: { ...w.children, modules_to_save: node("dict", { children: kids }) }, meta: w.meta });
    },
  });

/** Adapters present on a layer (for inspection). */
export const layerAdapters = (layer: Node): ReadonlyArray<string> => Object.keys(layerMeta(layer).adapters);
