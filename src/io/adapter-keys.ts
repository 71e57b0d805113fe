/**
 * Which tensors make up one adapter, under PEFT's file keys.
 *
 * Generic over tuners: an adapter's entries in each slot of each adapted layer
 * (`lin0.lora_A.<adapter>.weight` → `lin0.lora_A.weight`,
 * `emb.lora_embedding_A.<adapter>` → `emb.lora_embedding_A`), its
 * `modules_to_save` copies under the module's own key
 * (`lin1.modules_to_save.<adapter>.weight` → `lin1.weight`), and the biases
 * its config trains (`bias="all"` / `"lora_only"`).
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import { paramKey, type Path } from "../tree/path.js";
import { baseLayer, isTunerLayer, layerMeta } from "../tuners/layer.js";
import { isModulesToSave } from "../tuners/modules-to-save.js";

/** PEFT's prefix of every adapter key. */
export const KEY_PREFIX = "base_model.model.";

/** One tensor of an adapter: where it lives in the tree and its file key. */
export interface AdapterTensor {
  /** The state-dict key in the tree (`lin0.lora_A.default.weight`). */
  readonly treeKey: string;
  /** The key in adapter_model.safetensors (`base_model.model.lin0.lora_A.weight`). */
  readonly fileKey: string;
  readonly tensor: tf.Tensor;
  /** PEFT may omit it from its files (the `bias="lora_only"` bug of PEFT 0.20). */
  readonly optional: boolean;
}

/** Biases an adapter trains besides its slots. */
export type BiasScope = "none" | "all_biases" | "adapted_biases";

const allParams = (n: Node, p: Path, out: Array<readonly [Path, string, tf.Tensor]>): void => {
  for (const [k, t] of Object.entries(n.params)) out.push([p, k, t]);
  for (const [k, c] of Object.entries(n.children)) allParams(c, [...p, k], out);
};

/**
 * The tensors of one adapter, in tree order.
 *
 * @example
 *   adapterTensors(model, "default", "none").map((t) => t.fileKey)
 *   // ["base_model.model.lin0.lora_A.weight", "base_model.model.lin0.lora_B.weight", ...]
 */
export const adapterTensors = (tree: Node, adapter: string, bias: BiasScope): ReadonlyArray<AdapterTensor> => {
  const out: AdapterTensor[] = [];
  const file = (p: Path, tail: string): string => KEY_PREFIX + paramKey(p, tail);
  const go = (n: Node, p: Path, inAdapted: boolean): void => {
    if (isTunerLayer(n)) {
      const has = adapter in layerMeta(n).adapters;
      for (const [slot, dict] of Object.entries(n.children)) {
        if (slot === "base_layer" || dict.kind !== "dict") continue;
        const t = dict.params[adapter];
        if (t !== undefined) out.push({ treeKey: paramKey([...p, slot], adapter), fileKey: file(p, slot), tensor: t, optional: false });
        const m = dict.children[adapter];
        if (m !== undefined) {
          const ps: Array<readonly [Path, string, tf.Tensor]> = [];
          allParams(m, [], ps);
          for (const [sub, k, x] of ps) {
            out.push({ treeKey: paramKey([...p, slot, adapter, ...sub], k), fileKey: file([...p, slot, ...sub], k), tensor: x, optional: false });
          }
        }
      }
      go(baseLayer(n), [...p, "base_layer"], has);
      return;
    }
    if (isModulesToSave(n)) {
      const copy = (n.children["modules_to_save"] as Node).children[adapter];
      if (copy !== undefined) {
        const ps: Array<readonly [Path, string, tf.Tensor]> = [];
        allParams(copy, [], ps);
        for (const [sub, k, x] of ps) {
          out.push({ treeKey: paramKey([...p, "modules_to_save", adapter, ...sub], k), fileKey: file([...p, ...sub], k), tensor: x, optional: false });
        }
      }
      return;
    }
    const b = n.params["bias"];
    if (b !== undefined && (bias === "all_biases" || (bias === "adapted_biases" && inAdapted))) {
      out.push({ treeKey: paramKey(p, "bias"), fileKey: file(p, "bias"), tensor: b, optional: bias === "adapted_biases" });
    }
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k], false);
  };
  go(tree, [], false);
  return out;
};
