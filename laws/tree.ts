/**
 * Laws of the parameter folds over module trees, as pure predicates:
 *
 *   state dict:  loadStateDict(t, toStateDict(t)) ≡ t        (the same tensors back)
 *   partition:   combine(t, trainable, frozen) ≡ t            where {trainable, frozen} = partition(t)
 *   exact split: trainable and frozen are disjoint and cover toStateDict(t),
 *                and countParams(t) counts exactly them
 *   ownership:   tensorsOnlyIn(t, t) is empty; tensorsOf(t) ⊇ the state dict's tensors
 */
import * as E from "fp-ts/lib/Either.js";
import type { Node } from "../src/tree/node.js";
import { combine, countParams, loadStateDict, partition, toStateDict } from "../src/tree/params.js";
import { tensorsOf, tensorsOnlyIn } from "../src/tree/dispose.js";
import { sameTree } from "./eq.js";

/**
 * Loading a tree's own state dict gives the tree back, tensor for tensor.
 *
 * @example
 *   stateDictRoundTrip(mlp) // true
 */
export const stateDictRoundTrip = (t: Node): boolean => {
  const r = loadStateDict(t, toStateDict(t));
  return E.isRight(r) && sameTree(r.right, t);
};

/**
 * Combining a tree's own partition gives the tree back, tensor for tensor
 * (Equinox's `combine(partition(t)) == t`).
 *
 * @example
 *   partitionCombine(adapted) // true
 */
export const partitionCombine = (t: Node): boolean => {
  const p = partition(t);
  return sameTree(combine(t, p.trainable, p.frozen), t);
};

/**
 * The partition is exact: the two halves are disjoint, together they are the
 * state dict, and `countParams` counts their elements.
 *
 * @example
 *   partitionIsExact(adapted) // true
 */
export const partitionIsExact = (t: Node): boolean => {
  const sd = toStateDict(t);
  const { trainable, frozen } = partition(t);
  const kt = Object.keys(trainable);
  const kf = Object.keys(frozen);
  const size = (d: Readonly<Record<string, { readonly size: number }>>) => Object.values(d).reduce((n, x) => n + x.size, 0);
  const c = countParams(t);
  return (
    kt.every((k) => !(k in frozen)) &&
    kt.length + kf.length === Object.keys(sd).length &&
    [...kt, ...kf].every((k) => k in sd && (trainable[k] ?? frozen[k]) === sd[k]) &&
    c.trainable === size(trainable) &&
    c.total === size(trainable) + size(frozen)
  );
};

/**
 * A tree owns nothing it does not hold: `tensorsOnlyIn(t, t)` is empty and
 * every state-dict tensor is among `tensorsOf(t)`.
 *
 * @example
 *   ownershipIsConsistent(merged) // true
 */
export const ownershipIsConsistent = (t: Node): boolean => {
  const held = tensorsOf(t);
  return tensorsOnlyIn(t, t).length === 0 && Object.values(toStateDict(t)).every((x) => held.has(x));
};
