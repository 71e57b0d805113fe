/**
 * `inject`: add an adapter to a model — select the targets from the config,
 * wrap each (or add the adapter to an existing layer of the same tuner),
 * wrap `modules_to_save`, freeze the base, and record the adapter on the root.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import { tensorsOf } from "../tree/dispose.js";
import { mapChildren, node, setTrainable, trainableNames } from "../tree/node.js";
import { nodes, select } from "../tree/optics.js";
import { and, byName } from "../tree/select.js";
import { taskModulesToSave } from "../models/tasks/targets.js";
import { toString, type Path } from "../tree/path.js";
import { addToLayer, baseLayer, innermostBase, isTunerLayer, layerMeta } from "../tuners/layer.js";
import { addModuleToSave, isModulesToSave } from "../tuners/modules-to-save.js";
import { targetSelection } from "../tuners/target.js";
import type { BaseConfig } from "../tuners/config.js";
import type { Tuner } from "../tuners/types.js";
import { castDraft } from "immer";
import { peftState, updatePeftState, validateAdapterName } from "./state.js";

export interface InjectOptions {
  /** Default `"default"`. */
  readonly adapterName?: string;
  /** Seed of the adapter's random init. Default 0. */
  readonly seed?: number;
  /** Whether the new adapter's params are trainable. Default true. */
  readonly trainable?: boolean;
  /** The weights will be overwritten by a load: skip data-dependent inits. */
  readonly loading?: boolean;
}

/** Module names (with params) a user could target, for error messages. */
const moduleNames = (model: Node): ReadonlyArray<string> => {
  const out: string[] = [];
  const go = (n: Node, p: Path): void => {
    if (Object.keys(n.params).length > 0 && p.length > 0) out.push(`${toString(p)} (${n.kind})`);
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k]);
  };
  go(model, []);
  return out;
};

/** Freeze every param outside adapter slots and modules_to_save copies. */
const freezeBase = (n: Node): Node => {
  if (isTunerLayer(n)) {
    const b = baseLayer(n);
    const fb = freezeBase(b);
    return fb === b ? n : node(n.kind, { params: n.params, children: { ...n.children, base_layer: fb }, meta: n.meta });
  }
  if (isModulesToSave(n)) {
    const o = n.children["original_module"] as Node;
    const fo = freezeBase(o);
    return fo === o ? n : node(n.kind, { params: n.params, children: { ...n.children, original_module: fo }, meta: n.meta });
  }
  const self = mapChildren(n, freezeBase);
  return setTrainable(self, false);
};

/** Mark `bias` params trainable: everywhere, or only in the base layers an adapter wraps. */
const trainBiases = (n: Node, scope: "all_biases" | "adapted_biases", adapter: string, inAdapted = false): Node => {
  const adapted = isTunerLayer(n) && adapter in layerMeta(n).adapters;
  const self = mapChildren(n, (c, k) =>
    isTunerLayer(n) && k !== "base_layer" ? c : trainBiases(c, scope, adapter, adapted || (inAdapted && !isTunerLayer(c))),
  );
  const wants = "bias" in self.params && (scope === "all_biases" || inAdapted);
  return wants && !trainableNames(self).includes("bias") ? setTrainable(self, [...trainableNames(self), "bias"]) : self;
};

/**
 * PEFT's task-type defaults: `target_modules` from the model's table when
 * unset, and for SEQ_CLS / TOKEN_CLS / QUESTION_ANS the head names added to
 * `modules_to_save` (as `PeftModelForSequenceClassification` does; the saved
 * config carries them).
 */
export const withTaskDefaults = <C extends BaseConfig>(model: Node, config: C): C => {
  const defaults = model.meta["defaultTargetModules"] as ReadonlyArray<string> | undefined;
  const targetModules = config.targetModules === null && defaults !== undefined ? defaults : config.targetModules;
  const heads = config.taskType === null ? undefined : taskModulesToSave[config.taskType];
  const modulesToSave =
    heads === undefined ? config.modulesToSave : [...new Set([...(config.modulesToSave ?? []), ...heads])];
  return { ...config, targetModules, modulesToSave };
};

/**
 * Add an adapter to a model. Zero matched modules is an error listing the
 * modules that exist; a matched module the tuner cannot adapt is an error
 * naming its path and kind.
 *
 * @example
 *   const adapted = inject(mlp, lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"] }))
 *   const second  = inject(adapted, lora, loraConfig({ r: 2, targetModules: ["lin0"] }), { adapterName: "other" })
 */
export const inject = <C extends BaseConfig>(model: Node, tuner: Tuner<C>, config: C, options: InjectOptions = {}): Node => {
  const adapter = options.adapterName ?? "default";
  validateAdapterName(adapter, tuner.slots);
  const state = peftState(model);
  if (adapter in state.adapters) throw new Error(`adapter '${adapter}' already exists; delete it first or pick another name`);
  const trainable = options.trainable ?? true;
  const requested = withTaskDefaults(model, config);
  // modules_to_save are trained whole: nothing inside them is a target (as PEFT guards)
  const whole = requested.modulesToSave === null ? undefined : byName(requested.modulesToSave);
  const inWhole = (p: Path): boolean => whole !== undefined && p.some((_, i) => whole(p.slice(0, i + 1), model));
  const sel = and(targetSelection(requested, model), (p) => !inWhole(p));
  // Adapted layers and modules_to_save wrappers are units: a target is matched against the module it
  // wraps (so "all-linear" sees a LoRA layer as the linear it is), and nothing inside one is a target
  // (its base_layer, another adapter's lora_A/lora_B, original_module…).
  const units = new Set(nodes(model).filter(([, n]) => isTunerLayer(n) || isModulesToSave(n)).map(([p]) => toString(p)));
  const insideUnit = (p: Path): boolean => p.some((_, i) => i < p.length - 1 && units.has(toString(p.slice(0, i + 1))));
  const traversal = select(
    (p, n) => p.length > 0 && !insideUnit(p) && sel(p, isTunerLayer(n) ? innermostBase(n) : n) && !isModulesToSave(n) && n.kind !== "dict",
  );
  const targets = traversal.getAll(model);
  if (targets.length === 0) {
    throw new Error(
      `target_modules ${JSON.stringify(requested.targetModules)} matched no module; modules with parameters: ${moduleNames(model).join(", ")}`,
    );
  }
  const baseOf = (n: Node): Node => (n.kind === tuner.kind && isTunerLayer(n) ? baseLayer(n) : n);
  for (const [p, n] of targets) {
    const inner = innermostBase(baseOf(n));
    if (!tuner.supports.includes(inner.kind)) {
      throw new Error(
        `${toString(p)}: ${tuner.peftType} cannot adapt a '${inner.kind}' module (supported: ${tuner.supports.join(", ")})`,
      );
    }
  }
  const cfg = tuner.resolveConfig?.(requested, targets.map(([, n]) => baseOf(n))) ?? requested;
  const active = state.active.length === 0 ? [adapter] : state.active;
  // what this call allocates, freed if a later step fails (a throwing inject leaks nothing)
  const made: tf.Tensor[] = [];
  let out: Node;
  try {
    out = traversal.modify((n, p) => {
      const base = baseOf(n);
      const created = tuner.create({ config: cfg, adapter, path: p, base, seed: options.seed ?? 0, loading: options.loading ?? false });
      for (const e of Object.values(created.slots)) made.push(...(e instanceof tf.Tensor ? [e] : tensorsOf(e)));
      return addToLayer(tuner, n, adapter, created, active, trainable);
    })(model);
    out = freezeBase(out);
    if (cfg.modulesToSave !== null && cfg.modulesToSave.length > 0) {
      const mts = select((p, n) => byName(cfg.modulesToSave as ReadonlyArray<string>)(p, n) && !isTunerLayer(n));
      if (mts.getAll(out).length === 0) {
        throw new Error(`modules_to_save ${JSON.stringify(cfg.modulesToSave)} matched no module; modules: ${moduleNames(model).join(", ")}`);
      }
      out = mts.modify((n) => addModuleToSave(n, adapter, active, trainable))(out);
    }
  } catch (e) {
    for (const t of made) if (!t.isDisposed) t.dispose();
    throw e;
  }
  const extra = tuner.extraTrainable?.(cfg) ?? "none";
  if (extra !== "none" && trainable) out = trainBiases(out, extra, adapter);
  return updatePeftState(out, (s) => {
    s.adapters[adapter] = castDraft({ peftType: tuner.peftType, config: cfg });
    s.active = [...active];
  });
};

/**
 * PEFT's `add_adapter`: `inject` under a name. The new adapter is not made
 * active when others exist (switch with `setAdapter`).
 *
 * @example
 *   const two = addAdapter(adapted, lora, loraConfig({ r: 4, targetModules: ["lin0"] }), "second")
 */
export const addAdapter = <C extends BaseConfig>(model: Node, tuner: Tuner<C>, config: C, name: string, options: Omit<InjectOptions, "adapterName"> = {}): Node =>
  inject(model, tuner, config, { ...options, adapterName: name });
