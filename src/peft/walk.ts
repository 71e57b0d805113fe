/**
 * A bottom-up rewrite of every adapted layer and `modules_to_save` wrapper —
 * the one traversal merge, unmerge, unload, set/delete adapter and
 * enable/disable share. Untouched subtrees are shared, not copied.
 */
import { mapChildren, type Node } from "../tree/node.js";
import type { Path } from "../tree/path.js";
import { isTunerLayer } from "../tuners/layer.js";
import { isModulesToSave } from "../tuners/modules-to-save.js";

export interface Visitors {
  /** An adapted layer (its base_layer already rewritten). */
  readonly layer?: (layer: Node, path: Path) => Node;
  /** A modules_to_save wrapper. */
  readonly wrapper?: (wrapper: Node, path: Path) => Node;
}

/** Rewrite every adapted layer and wrapper of a tree. */
export const rewriteAdapters = (tree: Node, v: Visitors): Node => {
  const go = (n: Node, p: Path): Node => {
    const self = mapChildren(n, (c, k) => go(c, [...p, k]));
    if (isTunerLayer(self) && v.layer !== undefined) return v.layer(self, p);
    if (isModulesToSave(self) && v.wrapper !== undefined) return v.wrapper(self, p);
    return self;
  };
  return go(tree, []);
};

/** Every adapted layer of a tree with its path. */
export const adaptedLayers = (tree: Node): ReadonlyArray<readonly [Path, Node]> => {
  const out: Array<readonly [Path, Node]> = [];
  const go = (n: Node, p: Path): void => {
    if (isTunerLayer(n)) out.push([p, n]);
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k]);
  };
  go(tree, []);
  return out;
};
