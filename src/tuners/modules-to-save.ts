/**
 * `modules_to_save`: a trainable full copy of a module per adapter, used while
 * that adapter is active (PEFT's `ModulesToSaveWrapper`). The wrapper keeps
 * PEFT's names — `original_module` and `modules_to_save.<adapter>` — and the
 * copy is saved under the module's own key (`lin1.weight`).
 */
import { adapterNamesOf, byAdapter } from "./mixed-batch.js";
import * as tf from "@tensorflow/tfjs-core";
import { node, setTrainable, type Node } from "../tree/node.js";
import { forward, type KindDef } from "../nn/registry.js";

export interface ModulesToSaveMeta {
  readonly active: ReadonlyArray<string>;
  readonly disabled: boolean;
}

export const isModulesToSave = (n: Node): boolean => n.kind === "modulesToSave";

/** A copy of a subtree with fresh tensors (trainable), so training it leaves the original alone. */
export const deepCopy = (n: Node, trainable: boolean): Node =>
  node(n.kind, {
    params: Object.fromEntries(Object.entries(n.params).map(([k, v]) => [k, tf.clone(v)])),
    children: Object.fromEntries(Object.entries(n.children).map(([k, c]) => [k, deepCopy(c, trainable)])),
    meta: n.meta,
  });

const markAll = (n: Node, trainable: boolean): Node =>
  setTrainable(
    node(n.kind, {
      params: n.params,
      children: Object.fromEntries(Object.entries(n.children).map(([k, c]) => [k, markAll(c, trainable)])),
      meta: n.meta,
    }),
    trainable,
  );

/** Add an adapter's copy of `target` (wrapping it first if needed). */
export const addModuleToSave = (target: Node, adapter: string, active: ReadonlyArray<string>, trainable: boolean): Node => {
  const wrapper = isModulesToSave(target)
    ? target
    : node("modulesToSave", {
        children: { original_module: target, modules_to_save: node("dict") },
        meta: { active, disabled: false } satisfies ModulesToSaveMeta,
      });
  const original = wrapper.children["original_module"] as Node;
  const dict = wrapper.children["modules_to_save"] as Node;
  if (adapter in dict.children) throw new Error(`modules_to_save already has a copy for adapter '${adapter}'`);
  const copy = markAll(deepCopy(original, trainable), trainable);
  return node("modulesToSave", {
    children: { ...wrapper.children, modules_to_save: node("dict", { children: { ...dict.children, [adapter]: copy } }) },
    meta: wrapper.meta,
  });
};

/** The wrapper without an adapter's copy; the original module when none is left. */
export const removeModuleToSave = (wrapper: Node, adapter: string): Node => {
  const dict = wrapper.children["modules_to_save"] as Node;
  const { [adapter]: _gone, ...rest } = dict.children;
  if (Object.keys(rest).length === 0) return wrapper.children["original_module"] as Node;
  return node("modulesToSave", {
    children: { ...wrapper.children, modules_to_save: node("dict", { children: rest }) },
    meta: { ...wrapper.meta, active: (wrapper.meta as unknown as ModulesToSaveMeta).active.filter((a) => a !== adapter) },
  });
};

/** The module the wrapper currently runs: the first active adapter's copy, or the original. */
export const currentModule = (wrapper: Node): Node => {
  const m = wrapper.meta as unknown as ModulesToSaveMeta;
  const copies = (wrapper.children["modules_to_save"] as Node).children;
  const a = m.disabled ? undefined : m.active.find((x) => x in copies);
  return a === undefined ? (wrapper.children["original_module"] as Node) : (copies[a] as Node);
};

export const modulesToSaveKind: KindDef = {
  kind: "modulesToSave",
  doc: "runs the active adapter's trainable copy of a module, else the original",
  forward: (n, x, ctx) => {
    const names = adapterNamesOf(ctx);
    const m = n.meta as unknown as ModulesToSaveMeta;
    if (names === undefined || m.disabled) return forward(currentModule(n), x, ctx);
    const copies = (n.children["modules_to_save"] as Node).children;
    return byAdapter(x, names, "a modules_to_save wrapper", (name, xs) => forward(copies[name] ?? (n.children["original_module"] as Node), xs, ctx));
  },
};
