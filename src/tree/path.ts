/**
 * Paths: where a node sits in a tree, as data. `["transformer","h","0"]` prints
 * as `transformer.h.0`, the Hugging Face module name.
 */

/** A module path: the child names from the root. */
export type Path = ReadonlyArray<string>;

/** The root path. */
export const root: Path = [];

/** `transformer.h.0` */
export const toString = (p: Path): string => p.join(".");

/** Parse a dotted module name; `""` is the root. */
export const fromString = (s: string): Path => (s === "" ? [] : s.split("."));

/** The state-dict key of a param: `path.param`. */
export const paramKey = (p: Path, param: string): string => (p.length === 0 ? param : `${p.join(".")}.${param}`);

/** The last child name, or `""` at the root. */
export const last = (p: Path): string => p[p.length - 1] ?? "";

/**
 * The index of the layer a path belongs to: the integer after a segment matching
 * `pattern` (PEFT's `layers_pattern`, default `layers|h|block|blocks|layer`).
 *
 * @example
 *   layerIndex(["transformer","h","3","attn"]) // 3
 */
export const layerIndex = (
  p: Path,
  pattern: ReadonlyArray<string> = ["layers", "h", "block", "blocks", "layer"],
): number | undefined => {
  for (let i = 0; i + 1 < p.length; i++) {
    const seg = p[i] as string;
    const next = p[i + 1] as string;
    if (pattern.includes(seg) && /^\d+$/.test(next)) return Number(next);
  }
  return undefined;
};
