/**
 * Which modules an adapter config targets — PEFT's rules, as a `Selection`:
 *
 * - `target_modules` list: the module name equals an entry or ends with `.entry`;
 * - `target_modules` string: the whole module name fully matches the regex;
 * - `"all-linear"`: every `linear`/`conv1d` except the output head
 *   (the root's `meta.outputHead` path, e.g. `lm_head`);
 * - `exclude_modules` (list or regex, same rules) removes matches;
 * - `layers_to_transform` keeps only modules inside those layer indices
 *   (`layers_pattern`, default `layers|h|block|blocks|layer`).
 */
import type { Node } from "../tree/node.js";
import { layerIndex, toString, type Path } from "../tree/path.js";
import { and, byKind, byName, byRegex, not, or, type Selection } from "../tree/select.js";
import type { BaseConfig } from "./config.js";

const rule = (spec: string | ReadonlyArray<string>): Selection => (typeof spec === "string" ? byRegex(spec) : byName(spec));

const defaultLayersPattern = ["layers", "h", "block", "blocks", "layer"];

/** The selection a config's targeting fields describe, for a given model. */
export const targetSelection = (
  config: Pick<BaseConfig, "targetModules" | "excludeModules" | "layersToTransform" | "layersPattern">,
  model: Node,
): Selection => {
  const tm = config.targetModules;
  if (tm === null) {
    throw new Error(
      "target_modules is not set and the model declares no default (meta.defaultTargetModules); pass targetModules",
    );
  }
  let sel: Selection;
  if (tm === "all-linear") {
    const head = model.meta["outputHead"] as string | undefined;
    sel = and(byKind("linear", "conv1d"), (p) => toString(p) !== head);
  } else {
    sel = rule(tm);
  }
  if (config.excludeModules !== null) sel = and(sel, not(rule(config.excludeModules)));
  const lt = config.layersToTransform;
  if (lt !== null) {
    if (typeof tm === "string" && tm !== "all-linear") {
      throw new Error("layers_to_transform cannot be used when target_modules is a regex string (PEFT rejects it too)");
    }
    const indices = typeof lt === "number" ? [lt] : lt;
    const lp = config.layersPattern;
    const pattern = lp === null ? defaultLayersPattern : typeof lp === "string" ? [lp] : lp;
    sel = and(sel, (p: Path) => {
      const i = layerIndex(p, pattern);
      return i !== undefined && indices.includes(i);
    });
  }
  return sel;
};

/**
 * PEFT's `get_pattern_key`: the first key of a `rank_pattern`/`alpha_pattern`
 * map whose regex matches the end of the module name at a `.` boundary.
 */
export const patternKey = (patterns: Readonly<Record<string, unknown>>, module: string): string | undefined =>
  Object.keys(patterns).find((k) => new RegExp(`^(?:.*\\.)?(?:${k})$`).test(module));

/** Combine selections: any of them. */
export const anyOf = (...ss: ReadonlyArray<Selection>): Selection => or(...ss);
