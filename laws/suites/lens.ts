/**
 * The lens laws as fast-check suites: `at(path)`, `param(name)` and any
 * optional over plain data, on arbitrary trees and foci.
 */
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import type { Eq } from "fp-ts/lib/Eq.js";
import type { Node } from "../../src/tree/node.js";
import { at as atOptic, compose, nodes, param as paramOptic, type Optional } from "../../src/tree/optics.js";
import { paramEntries } from "../../src/tree/params.js";
import { disposeTree } from "../../src/tree/dispose.js";
import type { Path } from "../../src/tree/path.js";
import { eqTensorRef, eqTree } from "../eq.js";
import { optionalLaws } from "../lens.js";
import { arbTreeSpec, buildTree, type TreeSpecOptions } from "../nodes.js";
import { counted, params, type RunOptions } from "./run.js";

/** Options of the lens laws: runs plus the shape of the arbitrary trees. */
export interface LensLawOptions extends RunOptions, TreeSpecOptions {}

/**
 * get-set / set-get / set-set for `at(path)` over arbitrary trees and paths
 * that exist, with arbitrary replacement subtrees; trees are compared with
 * `sameTree` (same structure, the same tensor objects, deep-equal meta).
 * Pass another optic factory to check it instead of `at`.
 *
 * @example
 *   lensLawsAt()                                   // the library's `at`
 *   expect(() => lensLawsAt(brokenAt)).toThrow()   // a lens that copies tensors fails
 */
export const lensLawsAt = (optic: (path: Path) => Optional<Node, Node> = atOptic, options: LensLawOptions = {}): void =>
  fc.assert(
    fc.property(arbTreeSpec(options), fc.nat(), arbTreeSpec({ ...options, maxDepth: 1 }), arbTreeSpec({ ...options, maxDepth: 1 }), fc.nat(), (spec, i, bs, cs, seed) =>
      counted("at", () => {
        const s = buildTree(spec, seed);
        const b = buildTree(bs, seed + 1);
        const c = buildTree(cs, seed + 2);
        try {
          const all = nodes(s);
          const [path] = all[i % all.length] as readonly [Path, Node];
          const failed = optionalLaws(optic(path), eqTree, eqTree)(s, b, c);
          return failed === undefined ? undefined : `${failed} fails for at([${path.join(", ")}])`;
        } finally {
          for (const x of [s, b, c]) disposeTree(x);
        }
      }),
    ),
    params(options),
  );

/**
 * get-set / set-get / set-set for `param(name)` composed after `at(path)`
 * (the focus on one tensor of a tree), over params that exist; the focus is
 * compared by identity. Pass another factory to check it instead.
 *
 * @example
 *   lensLawsParam()
 */
export const lensLawsParam = (
  optic: (path: Path, name: string) => Optional<Node, tf.Tensor> = (path, name) =>
    path.length === 0 ? paramOptic(name) : compose(paramOptic(name))(atOptic(path)),
  options: LensLawOptions = {},
): void =>
  fc.assert(
    fc.property(arbTreeSpec(options), fc.nat(), fc.nat(), (spec, i, seed) =>
      counted("param", () => {
        const s = buildTree(spec, seed);
        const b = tf.randomUniform([2], 0, 1, "float32", seed + 1);
        const c = tf.randomUniform([1, 3], 0, 1, "float32", seed + 2);
        try {
          const entries = paramEntries(s);
          if (entries.length === 0) return undefined;
          const e = entries[i % entries.length] as (typeof entries)[number];
          const failed = optionalLaws(optic(e.path, e.name), eqTree, eqTensorRef)(s, b, c);
          return failed === undefined ? undefined : `${failed} fails for param '${e.key}'`;
        } finally {
          disposeTree(s);
          b.dispose();
          c.dispose();
        }
      }),
    ),
    params(options),
  );

/**
 * The optional laws for any optic over plain (tensor-free) data.
 *
 * @example
 *   optionalLawsFor(myOptional, arbS, arbA, eqS, eqA)
 */
export const optionalLawsFor = <S, A>(
  o: Optional<S, A>,
  arbS: fc.Arbitrary<S>,
  arbA: fc.Arbitrary<A>,
  eqS: Eq<S>,
  eqA: Eq<A>,
  options: RunOptions = {},
): void =>
  fc.assert(
    fc.property(arbS, arbA, arbA, (s, b, c) => {
      const failed = optionalLaws(o, eqS, eqA)(s, b, c);
      if (failed !== undefined) throw new Error(`${failed} fails`);
      return true;
    }),
    params(options),
  );
