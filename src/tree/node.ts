/**
 * The one node shape.
 *
 * Every model, layer and adapter is a `Node`: tagged plain data with tensors in
 * `params`, sub-nodes in `children` and static configuration in `meta`.
 * A node's path (`transformer.h.0.attn.c_attn`) plus a param name is exactly
 * the Hugging Face state-dict key. Nodes are never mutated: every
 * transformation returns a new tree sharing untouched subtrees and tensors.
 */
import type * as tf from "@tensorflow/tfjs-core";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Static, per-node data. Kinds keep their configuration here (`inFeatures`, `eps`, …). */
export type Meta = Readonly<Record<string, unknown>>;

/**
 * A module tree node. `K` is its kind, `P` the names of its own parameters.
 *
 * @example
 *   type Linear = Node<"linear", "weight" | "bias">
 */
export interface Node<K extends string = string, P extends string = string> {
  readonly kind: K;
  readonly params: Readonly<Record<P, tf.Tensor>>;
  readonly children: Readonly<Record<string, Node>>;
  readonly meta: Meta;
}

/** Well-known meta keys shared by generic machinery (trainability, merges). */
export interface CommonMeta {
  /** Names of this node's own params that are trainable (absent: all frozen). */
  readonly trainable?: ReadonlyArray<string>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Build a node; omitted fields are empty.
 *
 * @example
 *   const lin = node("linear", { params: { weight: tf.zeros([4, 3]) }, meta: { inFeatures: 3, outFeatures: 4 } })
 */
export const node = <K extends string, P extends string = string>(
  kind: K,
  parts: {
    readonly params?: Readonly<Record<P, tf.Tensor>>;
    readonly children?: Readonly<Record<string, Node>>;
    readonly meta?: Meta;
  } = {},
): Node<K, P> =>
  Object.freeze({
    kind,
    params: Object.freeze({ ...(parts.params ?? ({} as Record<P, tf.Tensor>)) }),
    children: Object.freeze({ ...(parts.children ?? {}) }),
    meta: Object.freeze({ ...(parts.meta ?? {}) }),
  });

// -------------------------------------------------------------------------------------
// refinements
// -------------------------------------------------------------------------------------

/** Narrow a node to a kind. */
export const isKind =
  <K extends string>(...kinds: ReadonlyArray<K>) =>
  (n: Node): n is Node<K> =>
    (kinds as ReadonlyArray<string>).includes(n.kind);

// -------------------------------------------------------------------------------------
// combinators (shallow, structure-sharing)
// -------------------------------------------------------------------------------------

/** A copy of `n` with some params replaced or added. */
export const withParams = <N extends Node>(n: N, params: Readonly<Record<string, tf.Tensor>>): N =>
  node(n.kind, { params: { ...n.params, ...params }, children: n.children, meta: n.meta }) as unknown as N;

/** A copy of `n` with some children replaced or added. */
export const withChildren = <N extends Node>(n: N, children: Readonly<Record<string, Node>>): N =>
  node(n.kind, { params: n.params, children: { ...n.children, ...children }, meta: n.meta }) as unknown as N;

/** A copy of `n` with some meta fields replaced or added. */
export const withMeta = <N extends Node>(n: N, meta: Meta): N =>
  node(n.kind, { params: n.params, children: n.children, meta: { ...n.meta, ...meta } }) as unknown as N;

/** A copy of `n` without the named children. */
export const withoutChildren = <N extends Node>(n: N, names: ReadonlyArray<string>): N =>
  node(n.kind, {
    params: n.params,
    children: Object.fromEntries(Object.entries(n.children).filter(([k]) => !names.includes(k))),
    meta: n.meta,
  }) as unknown as N;

/** Trainable param names of a node. */
export const trainableNames = (n: Node): ReadonlyArray<string> =>
  ((n.meta as CommonMeta).trainable ?? []).filter((p) => p in n.params);

/** A copy of `n` whose own params are all trainable (`true`) or all frozen (`false`). */
export const setTrainable = <N extends Node>(n: N, trainable: boolean | ReadonlyArray<string>): N => {
  const names = trainable === true ? Object.keys(n.params) : trainable === false ? [] : trainable;
  const before = (n.meta as CommonMeta).trainable ?? [];
  if (before.length === names.length && before.every((x, i) => x === names[i])) return n;
  const { trainable: _drop, ...rest } = n.meta as CommonMeta & Meta;
  return node(n.kind, {
    params: n.params,
    children: n.children,
    meta: names.length > 0 ? { ...rest, trainable: names } : rest,
  }) as unknown as N;
};

/**
 * `n` with every child replaced by `f(child, name)` — or `n` itself when no
 * child changed, so untouched subtrees stay shared (the step every rewrite of
 * a tree is built from).
 *
 * @example
 *   const frozen = (n: Node): Node => setTrainable(mapChildren(n, frozen), false)
 */
export const mapChildren = <N extends Node>(n: N, f: (child: Node, name: string) => Node): N => {
  let changed = false;
  const children: Record<string, Node> = {};
  for (const [k, c] of Object.entries(n.children)) {
    const next = f(c, k);
    changed ||= next !== c;
    children[k] = next;
  }
  return changed ? (node(n.kind, { params: n.params, children, meta: n.meta }) as unknown as N) : n;
};
