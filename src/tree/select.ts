/**
 * Selections: predicates over `(path, node)`, built from names, regexes, kinds,
 * layer indices or any function, and combined with `and`/`or`/`not`.
 */
import type { Node } from "./node.js";
import { layerIndex, toString, type Path } from "./path.js";

/** Does the node at `path` belong to the selection? */
export type Selection = (path: Path, node: Node) => boolean;

/**
 * PEFT's list rule: the module name equals an entry or ends with `.entry`.
 *
 * @example
 *   byName(["c_attn"])(["transformer","h","0","attn","c_attn"], n) // true
 */
export const byName =
  (names: ReadonlyArray<string>): Selection =>
  (path) => {
    const key = toString(path);
    return path.length > 0 && names.some((n) => key === n || key.endsWith(`.${n}`));
  };

/** PEFT's string rule: the whole dotted module name fully matches the regex. */
export const byRegex = (pattern: string | RegExp): Selection => {
  const re = new RegExp(`^(?:${typeof pattern === "string" ? pattern : pattern.source})$`);
  return (path) => path.length > 0 && re.test(toString(path));
};

/** Nodes of the given kinds. */
export const byKind =
  (...kinds: ReadonlyArray<string>): Selection =>
  (_path, n) =>
    kinds.includes(n.kind);

/** Nodes inside one of the given layers (`h.3`, `layers.3`, …). */
export const byLayer =
  (indices: ReadonlyArray<number>, pattern?: ReadonlyArray<string>): Selection =>
  (path) => {
    const i = layerIndex(path, pattern);
    return i !== undefined && indices.includes(i);
  };

/** Any predicate. */
export const where = (f: Selection): Selection => f;

export const and =
  (...ss: ReadonlyArray<Selection>): Selection =>
  (p, n) =>
    ss.every((s) => s(p, n));

export const or =
  (...ss: ReadonlyArray<Selection>): Selection =>
  (p, n) =>
    ss.some((s) => s(p, n));

export const not =
  (s: Selection): Selection =>
  (p, n) =>
    !s(p, n);

/** Everything. */
export const all: Selection = () => true;
