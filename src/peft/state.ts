/**
 * The model-level adapter state, kept in the root's `meta.peft`: each
 * adapter's tuner and config, the active set and the disabled flag. Layers
 * keep a copy of the active set and the flag so any subtree runs on its own.
 */
import type { Node } from "../tree/node.js";
import { produce, type Draft } from "immer";
import { node, withMeta } from "../tree/node.js";
import type { BaseConfig } from "../tuners/config.js";

/** One adapter of a model: its PEFT type and config. */
export interface AdapterEntry {
  readonly peftType: string;
  readonly config: BaseConfig;
}

/** `meta.peft` of a root. */
export interface PeftState {
  readonly adapters: Readonly<Record<string, AdapterEntry>>;
  readonly active: ReadonlyArray<string>;
  readonly disabled: boolean;
}

export const emptyState: PeftState = { adapters: {}, active: [], disabled: false };

/** The adapter state of a model (empty for a plain model). */
export const peftState = (model: Node): PeftState => (model.meta["peft"] as PeftState | undefined) ?? emptyState;

/** The model with a new adapter state (removed when no adapter is left). */
export const withPeftState = (model: Node, state: PeftState): Node => {
  if (Object.keys(state.adapters).length === 0) {
    const { peft: _gone, ...rest } = model.meta;
    return node(model.kind, { params: model.params, children: model.children, meta: rest });
  }
  return withMeta(model, { peft: state });
};

/**
 * The model with its adapter state updated by an immer recipe — state
 * transitions read as the edits they are.
 *
 * @example
 *   updatePeftState(model, (s) => { s.active = ["b"] })
 */
export const updatePeftState = (model: Node, recipe: (draft: Draft<PeftState>) => void): Node =>
  withPeftState(model, produce(peftState(model), recipe));

/** Names of the model's adapters. */
export const adapterNames = (model: Node): ReadonlyArray<string> => Object.keys(peftState(model).adapters);

/** The active adapters. */
export const activeAdapters = (model: Node): ReadonlyArray<string> => peftState(model).active;

/** One adapter's entry, or an error naming the adapters that exist. */
export const adapterEntry = (model: Node, name: string): AdapterEntry => {
  const e = peftState(model).adapters[name];
  if (e === undefined) {
    throw new Error(`no adapter '${name}' (adapters: ${adapterNames(model).join(", ") || "none"})`);
  }
  return e;
};

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Adapter names become folder names and state-dict segments: only letters,
 * digits, `_`, `-` and `.` (not leading), no `..`, and not a slot or wrapper
 * name (PEFT #2699: an adapter called `lora` corrupts keys).
 */
export const validateAdapterName = (name: string, reserved: ReadonlyArray<string> = []): void => {
  if (!SAFE_NAME.test(name) || name.includes("..")) {
    throw new Error(
      `invalid adapter name ${JSON.stringify(name)}: use letters, digits, '_', '-' and '.', not starting with '.' or '-', without '..' or '/'`,
    );
  }
  const clash = ["base_layer", "original_module", "modules_to_save", "weight", "bias", ...reserved];
  if (clash.includes(name)) throw new Error(`invalid adapter name '${name}': it collides with a module or slot name`);
};
