/**
 * Laws of optionals (monocle-ts's `Optional`, the shape of `at(path)` and
 * `param(name)`), as pure predicates. Each is stated where the focus exists
 * (`getOption(s)` is `Some`) — elsewhere it holds vacuously, as in
 * src/tree/optics.ts's header:
 *
 *   get-set:  o.set(a)(s) ≡ s  where Some(a) = o.getOption(s)
 *   set-get:  o.getOption(o.set(b)(s)) = Some(b)
 *   set-set:  o.set(c)(o.set(b)(s)) ≡ o.set(c)(s)
 *
 * `≡` is the `Eq` you pass: for trees, {@link sameTree} (same structure, the
 * very same tensor objects, deep-equal meta), so a lens that copies tensors
 * breaks the laws as surely as one that ignores its argument.
 */
import * as O from "fp-ts/lib/Option.js";
import type { Eq } from "fp-ts/lib/Eq.js";
import type { Optional } from "../src/tree/optics.js";

/**
 * get-set: setting what is there changes nothing.
 *
 * @example
 *   getSet(at(["lin0"]), eqTree)(mlp) // true
 */
export const getSet =
  <S, A>(o: Optional<S, A>, eqS: Eq<S>) =>
  (s: S): boolean =>
    O.match(
      () => true,
      (a: A) => eqS.equals(o.set(a)(s), s),
    )(o.getOption(s));

/**
 * set-get: what you set is what you get.
 *
 * @example
 *   setGet(param("weight"), eqTensorRef)(lin0, w) // true
 */
export const setGet =
  <S, A>(o: Optional<S, A>, eqA: Eq<A>) =>
  (s: S, b: A): boolean =>
    O.isNone(o.getOption(s)) ||
    O.match(
      () => false,
      (got: A) => eqA.equals(got, b),
    )(o.getOption(o.set(b)(s)));

/**
 * set-set: the last set wins.
 *
 * @example
 *   setSet(at(["lin0"]), eqTree)(mlp, x, y) // true
 */
export const setSet =
  <S, A>(o: Optional<S, A>, eqS: Eq<S>) =>
  (s: S, b: A, c: A): boolean =>
    O.isNone(o.getOption(s)) || eqS.equals(o.set(c)(o.set(b)(s)), o.set(c)(s));

/** The three laws at once, naming the first that fails (or `undefined`). */
export const optionalLaws =
  <S, A>(o: Optional<S, A>, eqS: Eq<S>, eqA: Eq<A>) =>
  (s: S, b: A, c: A): "get-set" | "set-get" | "set-set" | undefined =>
    !getSet(o, eqS)(s) ? "get-set" : !setGet(o, eqA)(s, b) ? "set-get" : !setSet(o, eqS)(s, b, c) ? "set-set" : undefined;
