/**
 * Arbitrary module trees for the tree and lens laws.
 *
 * fast-check may generate a value many times (shrinking), so arbitraries
 * yield *specs* — plain data: kinds, param shapes, trainable marks, meta,
 * children — and {@link buildTree} makes the tensors inside the property,
 * where the property can free them again.
 */
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../src/tree/node.js";
import { split } from "../src/nn/init.js";

/** A module tree as plain data. */
export interface TreeSpec {
  readonly kind: string;
  /** Param names with their shapes. */
  readonly params: ReadonlyArray<readonly [string, ReadonlyArray<number>]>;
  /** Which params are trainable (`meta.trainable`). */
  readonly trainable: ReadonlyArray<string>;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly children: ReadonlyArray<readonly [string, TreeSpec]>;
}

/** Options of {@link arbTreeSpec}. */
export interface TreeSpecOptions {
  /** Maximal depth (root = 0). Default 3. */
  readonly maxDepth?: number;
  /** Maximal children per node. Default 3. */
  readonly maxChildren?: number;
  /** Maximal params per node. Default 3. */
  readonly maxParams?: number;
}

const kinds = ["sequential", "linear", "conv1d", "embedding", "block", "dict", "layernorm"] as const;
const childNames = ["lin0", "lin1", "h", "0", "1", "attn", "c_attn", "mlp", "wte", "layers"] as const;
const paramNames = ["weight", "bias", "scale", "w"] as const;
const metaKeys = ["inFeatures", "outFeatures", "eps", "order", "name", "flags"] as const;

const arbShape = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 });
const arbMeta: fc.Arbitrary<Readonly<Record<string, unknown>>> = fc.dictionary(
  fc.constantFrom(...metaKeys),
  fc.oneof(fc.integer({ min: 0, max: 64 }), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 })),
  { maxKeys: 2 },
);

/**
 * Tree specs: kinds, 0–3 params of rank 0–2, random trainable marks, small
 * meta and up to `maxChildren` uniquely named children per node.
 *
 * @example
 *   fc.assert(fc.property(arbTreeSpec(), (spec) => { const t = buildTree(spec, 0); …; disposeTree(t) }))
 */
export const arbTreeSpec = (options: TreeSpecOptions = {}): fc.Arbitrary<TreeSpec> => {
  const maxDepth = options.maxDepth ?? 3;
  const maxChildren = options.maxChildren ?? 3;
  const maxParams = options.maxParams ?? 3;
  const at = (depth: number): fc.Arbitrary<TreeSpec> =>
    fc
      .record({
        kind: fc.constantFrom(...kinds),
        params: fc.uniqueArray(fc.tuple(fc.constantFrom(...paramNames), arbShape, fc.boolean()), {
          maxLength: maxParams,
          selector: ([n]) => n,
        }),
        meta: arbMeta,
        children:
          depth >= maxDepth
            ? fc.constant([] as Array<readonly [string, TreeSpec]>)
            : fc.uniqueArray(
                fc.tuple(
                  fc.constantFrom(...childNames),
                  fc.constant(null).chain(() => at(depth + 1)),
                ),
                { maxLength: maxChildren, selector: ([n]) => n },
              ),
      })
      .map(({ kind, params, meta, children }) => ({
        kind,
        params: params.map(([n, s]) => [n, s] as const),
        trainable: params.filter(([, , tr]) => tr).map(([n]) => n),
        meta,
        children,
      }));
  return at(0);
};

/**
 * Make the tree a spec describes, with seeded random tensors (the caller owns them).
 *
 * @example
 *   const t = buildTree(spec, 7); … ; disposeTree(t)
 */
export const buildTree = (spec: TreeSpec, seed: number): Node => {
  const go = (s: TreeSpec, label: string): Node =>
    node(s.kind, {
      params: Object.fromEntries(
        s.params.map(([n, shape]) => [n, tf.randomUniform([...shape], -1, 1, "float32", split(seed, `${label}.${n}`))]),
      ),
      children: Object.fromEntries(s.children.map(([n, c]) => [n, go(c, `${label}.${n}`)])),
      meta: s.trainable.length > 0 ? { ...s.meta, trainable: s.trainable } : s.meta,
    });
  return go(spec, "");
};
