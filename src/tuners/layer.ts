/**
 * The generic adapted layer: reading slots, adding and removing adapters, and
 * the forward every tuner layer shares (disabled → base; merged adapters are
 * skipped; the rest go to the tuner's forward).
 */
import { adapterNamesOf, byAdapter } from "./mixed-batch.js";
import * as tf from "@tensorflow/tfjs-core";
import { node, setTrainable, type Node } from "../tree/node.js";
import { forward, type Ctx, type KindDef } from "../nn/registry.js";
import type { AnyTuner, Created, TunerLayerMeta } from "./types.js";

/** The layer meta of an adapted node. */
export const layerMeta = (layer: Node): TunerLayerMeta => layer.meta as unknown as TunerLayerMeta;

/** Is this node an adapted layer (of any tuner)? */
export const isTunerLayer = (n: Node): boolean => typeof (n.meta as { peftType?: unknown }).peftType === "string" && "base_layer" in n.children;

/** The wrapped node. */
export const baseLayer = (layer: Node): Node => {
  const b = layer.children["base_layer"];
  if (b === undefined) throw new Error(`adapted layer of kind '${layer.kind}' has no base_layer`);
  return b;
};

/** The innermost non-adapter node (through nested adapters). */
export const innermostBase = (n: Node): Node => (isTunerLayer(n) ? innermostBase(baseLayer(n)) : n);

/** An adapter's module in a slot (`lora_A` of `default`). */
export const slotModule = (layer: Node, slot: string, adapter: string): Node => {
  const m = layer.children[slot]?.children[adapter];
  if (m === undefined) throw new Error(`adapter '${adapter}' has no module in slot '${slot}'`);
  return m;
};

/** An adapter's bare param in a slot (`lora_embedding_A` of `default`). */
export const slotParam = (layer: Node, slot: string, adapter: string): tf.Tensor => {
  const p = layer.children[slot]?.params[adapter];
  if (p === undefined) throw new Error(`adapter '${adapter}' has no param in slot '${slot}'`);
  return p;
};

/** Does an adapter have an entry in a slot? */
export const hasSlot = (layer: Node, slot: string, adapter: string): boolean => {
  const s = layer.children[slot];
  return s !== undefined && (adapter in s.children || adapter in s.params);
};

/** An adapter's settings on a layer. */
export const settingsOf = <S>(layer: Node, adapter: string): S => {
  const s = layerMeta(layer).adapters[adapter];
  if (s === undefined) throw new Error(`adapter '${adapter}' is not on this layer`);
  return s as S;
};

const emptyDict = node("dict");

/**
 * Add one adapter's entries to a layer (wrapping `base` first if it is not yet
 * a layer of this tuner). New entries are trainable unless `trainable` is false.
 */
export const addToLayer = (
  tuner: AnyTuner,
  target: Node,
  adapter: string,
  created: Created,
  active: ReadonlyArray<string>,
  trainable: boolean,
): Node => {
  const layer =
    target.kind === tuner.kind && isTunerLayer(target)
      ? target
      : node(tuner.kind, {
          children: { base_layer: target },
          meta: { peftType: tuner.peftType, active, disabled: false, merged: [], adapters: {} } satisfies TunerLayerMeta,
        });
  const m = layerMeta(layer);
  if (adapter in m.adapters) throw new Error(`adapter '${adapter}' already exists on this layer`);
  const children: Record<string, Node> = { ...layer.children };
  for (const [slot, entry] of Object.entries(created.slots)) {
    const dict = children[slot] ?? emptyDict;
    if (entry instanceof tf.Tensor) {
      const tr = (dict.meta["trainable"] as ReadonlyArray<string> | undefined) ?? [];
      children[slot] = node("dict", {
        params: { ...dict.params, [adapter]: entry },
        children: dict.children,
        meta: { ...dict.meta, trainable: trainable ? [...tr, adapter] : tr },
      });
    } else {
      const names = trainable ? Object.keys(entry.params) : [];
      children[slot] = node("dict", {
        params: dict.params,
        children: { ...dict.children, [adapter]: setTrainable(entry, names) },
        meta: dict.meta,
      });
    }
  }
  return node(layer.kind, {
    params: layer.params,
    children,
    meta: { ...m, adapters: { ...m.adapters, [adapter]: created.settings } },
  });
};

/** The layer without an adapter (its entries and settings); the base node when none is left. */
export const removeFromLayer = (layer: Node, adapter: string): Node => {
  const m = layerMeta(layer);
  if (!(adapter in m.adapters)) return layer;
  if (m.merged.includes(adapter)) throw new Error(`adapter '${adapter}' is merged; unmerge before deleting it`);
  const { [adapter]: _gone, ...adapters } = m.adapters;
  if (Object.keys(adapters).length === 0) return m.original ?? baseLayer(layer);
  const children: Record<string, Node> = {};
  for (const [k, c] of Object.entries(layer.children)) {
    if (k === "base_layer" || c.kind !== "dict") {
      children[k] = c;
      continue;
    }
    const { [adapter]: _p, ...params } = c.params;
    const { [adapter]: _c, ...kids } = c.children;
    const tr = ((c.meta["trainable"] as ReadonlyArray<string> | undefined) ?? []).filter((a) => a !== adapter);
    children[k] = node("dict", { params, children: kids, meta: { ...c.meta, trainable: tr } });
  }
  return node(layer.kind, {
    params: layer.params,
    children,
    meta: { ...m, adapters, active: m.active.filter((a) => a !== adapter) },
  });
};

/**
 * The kind of a tuner's layers: disabled → the base output (the original
 * weights when merged); a mixed batch → each sample through its own adapter
 * (./mixed-batch.ts); otherwise the tuner's forward over the active,
 * unmerged adapters present on the layer.
 */
export const tunerLayerKind = (tuner: AnyTuner): KindDef => ({
  kind: tuner.kind,
  doc: `a layer adapted by ${tuner.peftType}`,
  forward: (layer: Node, x: tf.Tensor, ctx: Ctx) => {
    const m = layerMeta(layer);
    if (m.disabled) return forward(m.original ?? baseLayer(layer), x, ctx);
    const names = adapterNamesOf(ctx);
    if (names !== undefined) {
      if (m.merged.length > 0) {
        throw new Error(`a ${tuner.peftType} layer with merged adapters (${m.merged.join(", ")}) cannot run a mixed batch (adapterNames): unmerge first (as PEFT)`);
      }
      return byAdapter(x, names, `a ${tuner.peftType} layer`, (name, xs) =>
        name in m.adapters ? tuner.forward(layer, xs, ctx, [name]) : forward(baseLayer(layer), xs, ctx),
      );
    }
    const adapters = m.active.filter((a) => a in m.adapters && !m.merged.includes(a));
    return adapters.length === 0 ? forward(baseLayer(layer), x, ctx) : tuner.forward(layer, x, ctx, adapters);
  },
});
