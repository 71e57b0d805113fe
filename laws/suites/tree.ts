/**
 * The parameter-fold laws as a fast-check suite, over arbitrary trees or the
 * trees you give.
 */
import * as fc from "fast-check";
import type { Node } from "../../src/tree/node.js";
import { disposeTree } from "../../src/tree/dispose.js";
import { ownershipIsConsistent, partitionCombine, partitionIsExact, stateDictRoundTrip } from "../tree.js";
import { arbTreeSpec, buildTree, type TreeSpecOptions } from "../nodes.js";
import { counted, params, type RunOptions } from "./run.js";

/** Options of {@link treeLaws}. */
export interface TreeLawOptions extends RunOptions, TreeSpecOptions {
  /** Trees to check, as thunks that build fresh tensors (default: arbitrary trees). */
  readonly trees?: fc.Arbitrary<() => Node>;
}

/**
 * The parameter-fold laws (state dict round trip, partition/combine, exact
 * partition, ownership) over arbitrary trees — or the trees you give.
 *
 * @example
 *   treeLaws()
 *   treeLaws({ trees: fc.constant(() => inject(fromLayers(specs), lora, cfg)) })
 */
export const treeLaws = (options: TreeLawOptions = {}): void => {
  const trees = options.trees ?? fc.tuple(arbTreeSpec(options), fc.nat()).map(([spec, seed]) => () => buildTree(spec, seed));
  const laws: ReadonlyArray<readonly [string, (t: Node) => boolean]> = [
    ["loadStateDict(t, toStateDict(t)) ≡ t", stateDictRoundTrip],
    ["combine(t, partition(t)) ≡ t", partitionCombine],
    ["partition(t) is exact", partitionIsExact],
    ["ownership is consistent", ownershipIsConsistent],
  ];
  fc.assert(
    fc.property(trees, (make) =>
      counted("tree", () => {
        const tr = make();
        try {
          const bad = laws.find(([, law]) => !law(tr));
          return bad === undefined ? undefined : `${bad[0]} fails`;
        } finally {
          disposeTree(tr);
        }
      }),
    ),
    params(options),
  );
};
