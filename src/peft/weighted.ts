/**
 * `addWeightedAdapter`: a new LoRA adapter made from weighted existing ones
 * (PEFT's `LoraModel.add_weighted_adapter`, 0.20 semantics), as a pure
 * function. With weights wᵢ and scalings sᵢ:
 *
 *   linear  A = Σ sgn(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ,  B = Σ √|wᵢsᵢ|·Bᵢ         (same r required)
 *   cat     A = [w₁s₁A₁; w₂s₂A₂; …],  B = [B₁ B₂ …]               (r = Σ rᵢ; exact: BA = Σ wᵢsᵢBᵢAᵢ)
 *   svd     Δ = Σ wᵢsᵢ·Δᵢ with Δᵢ = sᵢ·BᵢAᵢ (PEFT's get_delta_weight, so sᵢ enters twice),
 *           then B = U·diag(S), A = Vh of Δ's top-`svdRank` SVD (optionally clamped;
 *           unclamped, Δ is decomposed from its stacked factors without being formed)
 *   ties, dare_linear, dare_ties, magnitude_prune: as linear, with the task
 *           merge of `../math/task-merge.ts` on A and on B; `*_svd`: on Δ, then SVD.
 *
 * The new adapter's config is the first adapter's with r = lora_alpha = the
 * new rank (scaling 1, or √r with `use_rslora` — as PEFT), the union of the
 * target modules and no rank/alpha patterns. It is frozen and not activated.
 */
import * as E from "fp-ts/lib/Either.js";
import type * as tf from "@tensorflow/tfjs-core";
import { castDraft } from "immer";
import type { Node } from "../tree/node.js";
import { tensorsOf } from "../tree/dispose.js";
import { toString, type Path } from "../tree/path.js";
import { addToLayer, hasSlot, layerMeta, settingsOf, slotModule, slotParam } from "../tuners/layer.js";
import { addModuleToSave } from "../tuners/modules-to-save.js";
import { lora, loraSettingsFor, type LoraConfig, type LoraSettings } from "../tuners/lora/index.js";
import { weightOf } from "../tuners/lora/weights.js";
import * as TM from "../math/task-merge.js";
import { peftState, updatePeftState, validateAdapterName } from "./state.js";
import { rewriteAdapters } from "./walk.js";
import { combinationTypes, invalid, maxRank, refuse, Refused, unionTargets, type CombinationType, type WeightedAdapterError, type WeightedAdapterOptions } from "./weighted/options.js";
import { combineLayer, slotsFor, type Source } from "./weighted/combine.js";

export type { CombinationType, WeightedAdapterError, WeightedAdapterOptions } from "./weighted/options.js";

/**
 * Add a LoRA adapter combining existing ones with weights (PEFT's
 * `add_weighted_adapter`). Returns `Left` naming the problem for unknown or
 * non-LoRA adapters, an existing name, mismatched ranks (linear, ties,
 * dare_*, magnitude_prune), mixed `target_modules` types, two adapters with
 * `modules_to_save` copies of one module, DoRA, `lora_bias`, `bias != "none"`
 * and `target_parameters`. The input's tensors are shared, never disposed;
 * the new adapter's are owned by the result.
 *
 * @example
 *   const mixed = orThrow(addWeightedAdapter(model, { adapters: ["a", "b"], weights: [0.7, 0.3], adapterName: "ab", combinationType: "cat" }))
 *   apply(setAdapter(mixed, "ab"), x)
 */
export const addWeightedAdapter = (tree: Node, options: WeightedAdapterOptions): E.Either<WeightedAdapterError, Node> => {
  const made: tf.Tensor[] = [];
  try {
    return E.right(build(tree, options, made));
  } catch (e) {
    for (const t of made) if (!t.isDisposed) t.dispose();
    if (e instanceof Refused) return E.left(e.error);
    throw e;
  }
};

const build = (tree: Node, o: WeightedAdapterOptions, made: tf.Tensor[]): Node => {
  const state = peftState(tree);
  const known = Object.keys(state.adapters).join(", ") || "none";
  const name = o.adapterName;
  try {
    validateAdapterName(name, lora.slots);
  } catch (e) {
    invalid((e as Error).message);
  }
  if (name in state.adapters) refuse({ _tag: "AdapterExists", adapter: name, message: `adapter '${name}' already exists; delete it first or pick another name` });
  if (o.adapters.length === 0) invalid("adapters is empty: name at least one adapter to combine");
  if (o.weights.length !== o.adapters.length) {
    invalid(`${o.adapters.length} adapters but ${o.weights.length} weights: give one weight per adapter`);
  }
  if (!o.weights.every(Number.isFinite)) invalid(`weights must be finite numbers, got ${JSON.stringify(o.weights)}`);
  if (new Set(o.adapters).size !== o.adapters.length) invalid(`adapters listed twice: ${o.adapters.join(", ")}`);
  const configs = o.adapters.map((a) => {
    const entry = state.adapters[a];
    if (entry === undefined) return refuse({ _tag: "UnknownAdapter", adapter: a, message: `no adapter '${a}' (adapters: ${known})` });
    if (entry.peftType !== "LORA") return refuse({ _tag: "Unsupported", message: `adapter '${a}' is ${entry.peftType}; only LoRA adapters can be combined` });
    const c = entry.config as LoraConfig;
    if (c.useDora) refuse({ _tag: "Unsupported", message: `adapter '${a}' uses DoRA: weighted combination of DoRA adapters is not supported (the magnitude cannot be combined)` });
    if (c.loraBias) refuse({ _tag: "Unsupported", message: `adapter '${a}' has lora_bias: its bias cannot be combined` });
    if (c.targetParameters !== null && !(Array.isArray(c.targetParameters) && c.targetParameters.length === 0)) {
      refuse({ _tag: "Unsupported", message: `adapter '${a}' targets parameters (target_parameters): not supported by add_weighted_adapter (as PEFT)` });
    }
    return c;
  });
  const first = configs[0] as LoraConfig;
  if (first.bias !== "none") {
    refuse({ _tag: "Unsupported", message: `adapter '${o.adapters[0]}' has bias='${first.bias}': a model with several adapters needs bias='none' (as PEFT)` });
  }
  const kind: CombinationType = o.adapters.length === 1 ? "linear" : (o.combinationType ?? "svd");
  if (!combinationTypes.includes(kind)) invalid(`invalid combination_type '${String(o.combinationType)}' (one of ${combinationTypes.join(", ")})`);
  const pruning = /^(ties|dare|magnitude_prune)/.test(kind);
  if (pruning && (o.density === undefined || !(o.density >= 0 && o.density <= 1))) {
    invalid(`combination_type '${kind}' needs a density in [0, 1], got ${String(o.density)}`);
  }
  if (o.svdRank !== undefined && !(Number.isInteger(o.svdRank) && o.svdRank > 0)) invalid(`svdRank must be a positive integer, got ${o.svdRank}`);
  if (o.svdClamp !== undefined && !(o.svdClamp >= 0 && o.svdClamp <= 1)) invalid(`svdClamp is a quantile in [0, 1], got ${o.svdClamp}`);
  const ranks = configs.map(maxRank);
  let newRank: number;
  if (kind === "cat") newRank = ranks.reduce((x, y) => x + y, 0);
  else if (kind.endsWith("svd")) newRank = o.svdRank ?? Math.max(...ranks);
  else {
    if (new Set(ranks).size !== 1) {
      refuse({
        _tag: "RankMismatch",
        message: `combination_type '${kind}' needs adapters of the same r, got ${o.adapters.map((a, i) => `${a}: ${ranks[i]}`).join(", ")} (use 'cat' or 'svd')`,
      });
    }
    newRank = ranks[0] as number;
  }
  // modules_to_save copies of one module from two of the adapters cannot be combined (as PEFT)
  const clashes: string[] = [];
  rewriteAdapters(tree, {
    wrapper: (w, p) => {
      const copies = (w.children["modules_to_save"] as Node).children;
      if (o.adapters.filter((a) => a in copies).length > 1) clashes.push(toString(p));
      return w;
    },
  });
  if (clashes.length > 0) {
    refuse({ _tag: "Unsupported", message: `cannot combine adapters that have modules_to_save copies of the same module: ${clashes.join(", ")}` });
  }
  const config: LoraConfig = {
    ...first,
    r: newRank,
    loraAlpha: newRank,
    targetModules: unionTargets(configs),
    rankPattern: {},
    alphaPattern: {},
  };
  const rand = TM.seededUniform(o.seed ?? 0);
  let touched = 0;
  let out = rewriteAdapters(tree, {
    layer: (layer: Node, p: Path) => {
      const m = layerMeta(layer);
      if (m.peftType !== "LORA") return layer;
      const present = o.adapters.map((a, i) => [a, o.weights[i] as number] as const).filter(([a]) => a in m.adapters);
      if (present.length === 0) return layer;
      const where = toString(p);
      const template = (present[0] as readonly [string, number])[0];
      const embedding = hasSlot(layer, "lora_embedding_A", template);
      const sources: Source[] = present.map(([a, weight]) => ({
        weight,
        scaling: settingsOf<LoraSettings>(layer, a).scaling,
        a: embedding ? slotParam(layer, "lora_embedding_A", a) : weightOf(slotModule(layer, "lora_A", a)),
        b: embedding ? slotParam(layer, "lora_embedding_B", a) : weightOf(slotModule(layer, "lora_B", a)),
      }));
      const { a, b } = combineLayer(kind, sources, newRank, o, rand, where);
      made.push(a, b);
      touched++;
      const settings = loraSettingsFor(config, where);
      return addToLayer(lora, layer, name, { slots: slotsFor(layer, template, embedding, a, b), settings: settings as unknown as Record<string, unknown> }, m.active, false);
    },
  });
  if (touched === 0) refuse({ _tag: "Unsupported", message: `no LoRA layer holds any of ${o.adapters.join(", ")}` });
  if (config.modulesToSave !== null && config.modulesToSave.length > 0) {
    const firstAdapter = o.adapters[0] as string;
    const held = tensorsOf(tree);
    out = rewriteAdapters(out, {
      wrapper: (w) => {
        const copies = (w.children["modules_to_save"] as Node).children;
        if (!(firstAdapter in copies)) return w;
        // PEFT gives the new adapter a fresh copy of the original module
        const next = addModuleToSave(w, name, (w.meta as { active: ReadonlyArray<string> }).active, false);
        for (const t of tensorsOf(next)) if (!held.has(t)) made.push(t);
        return next;
      },
    });
  }
  return updatePeftState(out, (s) => {
    s.adapters[name] = castDraft({ peftType: "LORA", config });
  });
};
