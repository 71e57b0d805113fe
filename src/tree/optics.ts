/**
 * Optics over module trees, in monocle-ts's shape: data-last, plain records of
 * functions, paths as data.
 *
 * Laws (tested in `laws/lens.ts`), for an `Optional` `o` and a tree `s` where
 * `o.getOption(s)` is `Some(a)`:
 *   get-set:  o.set(a)(s) ≡ s                 (setting what is there changes nothing)
 *   set-get:  o.getOption(o.set(b)(s)) = Some(b)
 *   set-set:  o.set(c)(o.set(b)(s)) ≡ o.set(c)(s)
 */
import * as O from "fp-ts/lib/Option.js";
import type * as tf from "@tensorflow/tfjs-core";
import { mapChildren, node, type Node } from "./node.js";
import type { Path } from "./path.js";
import type { Selection } from "./select.js";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A focus that may be absent (a path that may not exist). */
export interface Optional<S, A> {
  readonly getOption: (s: S) => O.Option<A>;
  readonly set: (a: A) => (s: S) => S;
}

/** A focus on many parts at once, each with its path. */
export interface Traversal<S, A> {
  readonly getAll: (s: S) => ReadonlyArray<readonly [Path, A]>;
  readonly modify: (f: (a: A, path: Path) => A) => (s: S) => S;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The node at a path.
 *
 * @example
 *   const lin0 = O.toUndefined(at(["lin0"]).getOption(mlp))
 *   const mlp2 = at(["lin0"]).set(newLin0)(mlp)   // shares every other subtree with `mlp`
 */
export const at = (path: Path): Optional<Node, Node> => {
  const getOption = (s: Node): O.Option<Node> => {
    let cur: Node | undefined = s;
    for (const seg of path) {
      cur = cur.children[seg];
      if (cur === undefined) return O.none;
    }
    return O.some(cur);
  };
  // A lawful Optional: setting where nothing is focused changes nothing (use `setAt` to add a child).
  return { getOption, set: (a) => (s) => (O.isSome(getOption(s)) ? setAt(s, path, a) : s) };
};

/** A param of a node. */
export const param = (name: string): Optional<Node, tf.Tensor> => ({
  getOption: (s) => O.fromNullable(s.params[name]),
  set: (a) => (s) => (name in s.params ? node(s.kind, { ...s, params: { ...s.params, [name]: a } }) : s),
});

/** Compose two optionals. */
export const compose =
  <A, B>(ab: Optional<A, B>) =>
  <S>(sa: Optional<S, A>): Optional<S, B> => ({
    getOption: (s) => O.chain(ab.getOption)(sa.getOption(s)),
    set: (b) => (s) =>
      O.match(
        () => s,
        (a: A) => sa.set(ab.set(b)(a))(s),
      )(sa.getOption(s)),
  });

/**
 * Every node matched by a selection, visited pre-order. `modify` replaces a
 * matched node by `f(node)` and does not descend into the result, so nested
 * matches are wrapped once, at the outermost match.
 *
 * @example
 *   const linears = select(byKind("linear"))
 *   linears.getAll(mlp).map(([p]) => p.join("."))   // ["lin0", "lin1"]
 */
export const select = (selection: Selection): Traversal<Node, Node> => ({
  getAll: (s) => {
    const out: Array<readonly [Path, Node]> = [];
    const go = (n: Node, p: Path): void => {
      if (selection(p, n)) {
        out.push([p, n]);
        return;
      }
      for (const [k, c] of Object.entries(n.children)) go(c, [...p, k]);
    };
    go(s, []);
    return out;
  },
  modify: (f) => (s) => {
    const go = (n: Node, p: Path): Node => {
      if (selection(p, n)) return f(n, p);
      return mapChildren(n, (c, k) => go(c, [...p, k]));
    };
    return go(s, []);
  },
});

/** Every node of a tree with its path, pre-order (root first). */
export const nodes = (s: Node): ReadonlyArray<readonly [Path, Node]> => {
  const out: Array<readonly [Path, Node]> = [];
  const go = (n: Node, p: Path): void => {
    out.push([p, n]);
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k]);
  };
  go(s, []);
  return out;
};

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Get the node at a path or throw an error naming the path and what exists there. */
export const getAt = (s: Node, path: Path): Node => {
  let cur = s;
  for (let i = 0; i < path.length; i++) {
    const next: Node | undefined = cur.children[path[i] as string];
    if (next === undefined) {
      throw new Error(
        `no module '${path.slice(0, i + 1).join(".")}' (children of '${path.slice(0, i).join(".") || "<root>"}': ${Object.keys(cur.children).join(", ") || "none"})`,
      );
    }
    cur = next;
  }
  return cur;
};

/** Replace the node at a path (which must exist, or be a new direct child of an existing node). */
export const setAt = (s: Node, path: Path, a: Node): Node => {
  if (path.length === 0) return a;
  const [head, ...rest] = path as [string, ...string[]];
  const child = s.children[head];
  if (child === undefined && rest.length > 0) {
    throw new Error(`no module '${head}' under '${"<root>"}' to descend into (have: ${Object.keys(s.children).join(", ")})`);
  }
  const next = rest.length === 0 ? a : setAt(child as Node, rest, a);
  if (next === child) return s;
  return node(s.kind, { params: s.params, children: { ...s.children, [head]: next }, meta: s.meta });
};

/** Apply `f` to the node at a path. */
export const modifyAt = (s: Node, path: Path, f: (n: Node) => Node): Node => setAt(s, path, f(getAt(s, path)));
