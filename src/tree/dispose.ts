/**
 * Tensor ownership at the edges. Pure functions never dispose their inputs;
 * whoever holds the last tree frees what only it holds.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "./node.js";

/** Nodes a tree keeps outside `children` (the unmerged originals of merged layers). */
const hidden = (n: Node): ReadonlyArray<Node> => {
  const o = (n.meta as { original?: unknown }).original;
  return o !== undefined && typeof o === "object" && o !== null && "kind" in o ? [o as Node] : [];
};

/** Every tensor a tree holds (params, and the originals kept by merged layers), once each. */
export const tensorsOf = (t: Node): ReadonlySet<tf.Tensor> => {
  const out = new Set<tf.Tensor>();
  const go = (n: Node): void => {
    for (const p of Object.values(n.params)) out.add(p);
    for (const c of Object.values(n.children)) go(c);
    for (const h of hidden(n)) go(h);
  };
  go(t);
  return out;
};

/** Dispose every tensor of a tree. */
export const disposeTree = (t: Node): void => {
  for (const x of tensorsOf(t)) if (!x.isDisposed) x.dispose();
};

/**
 * Dispose what `old` holds and `next` does not (lorax's `destructive=True`,
 * made explicit): after `const m = merge(t)`, `disposeReplaced(t, m)` keeps
 * `m` whole and frees only what `t` alone had.
 */
export const disposeReplaced = (old: Node, next: Node): void => {
  const keep = tensorsOf(next);
  for (const x of tensorsOf(old)) if (!keep.has(x) && !x.isDisposed) x.dispose();
};

/** The tensors `next` holds that `old` does not (what a transformation allocated). */
export const tensorsOnlyIn = (old: Node, next: Node): ReadonlyArray<tf.Tensor> => {
  const had = tensorsOf(old);
  return [...tensorsOf(next)].filter((x) => !had.has(x));
};

/** Keep every tensor of a tree alive past a `tf.tidy` (returns the tree). */
export const keepTree = <N extends Node>(t: N): N => {
  for (const x of tensorsOf(t)) tf.keep(x);
  return t;
};
