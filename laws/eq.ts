/**
 * Equalities the laws are stated with.
 *
 * - `sameTree`: the same structure (kinds, child and param names), the very
 *   same tensor objects (`===`) and deep-equal meta — "≡" in the laws. A merged
 *   layer's `meta.original` is a node: it is compared the same way.
 * - `sameBits`: two tensors hold the same dtype, shape and bits.
 * - `allClose`: |a − b| ≤ atol + rtol·|b| elementwise (the "≈" of the laws).
 * - `deepEqual`: JSON-style equality of plain values (configs).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Eq } from "fp-ts/lib/Eq.js";
import type { Node } from "../src/tree/node.js";

// -------------------------------------------------------------------------------------
// trees
// -------------------------------------------------------------------------------------

const isNode = (v: unknown): v is Node =>
  typeof v === "object" && v !== null && "kind" in v && "params" in v && "children" in v && "meta" in v;

const sameKeys = (a: object, b: object): string | undefined => {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]) ? undefined : `keys [${ka.join(", ")}] vs [${kb.join(", ")}]`;
};

/** The first difference between two meta values (tensors by identity, nodes structurally), or undefined. */
const valueDiff = (a: unknown, b: unknown, at: string): string | undefined => {
  if (a === b) return undefined;
  if (a instanceof tf.Tensor || b instanceof tf.Tensor) return `${at}: different tensor objects`;
  if (isNode(a) && isNode(b)) return treeDiffAt(a, b, at);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${at}: array vs non-array`;
    if (a.length !== b.length) return `${at}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = valueDiff(a[i], b[i], `${at}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const k = sameKeys(a, b);
    if (k !== undefined) return `${at}: ${k}`;
    for (const key of Object.keys(a)) {
      const d = valueDiff((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${at}.${key}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
};

const treeDiffAt = (a: Node, b: Node, at: string): string | undefined => {
  if (a === b) return undefined;
  if (a.kind !== b.kind) return `${at || "<root>"}: kind '${a.kind}' vs '${b.kind}'`;
  const kp = sameKeys(a.params, b.params);
  if (kp !== undefined) return `${at || "<root>"} params: ${kp}`;
  for (const [k, t] of Object.entries(a.params)) {
    if (t !== b.params[k]) return `${at ? at + "." : ""}${k}: different tensor objects`;
  }
  const kc = sameKeys(a.children, b.children);
  if (kc !== undefined) return `${at || "<root>"} children: ${kc}`;
  for (const [k, c] of Object.entries(a.children)) {
    const d = treeDiffAt(c, b.children[k] as Node, at ? `${at}.${k}` : k);
    if (d !== undefined) return d;
  }
  return valueDiff(a.meta, b.meta, `${at || "<root>"}#meta`);
};

/**
 * Where two trees differ (structure, tensor identity, meta), or `undefined`
 * when they are the same tree.
 *
 * @example
 *   treeDiff(mlp, mlp)                      // undefined
 *   treeDiff(mlp, withParams(mlp, { w }))   // "<root> params: keys [] vs [w]"
 */
export const treeDiff = (a: Node, b: Node): string | undefined => treeDiffAt(a, b, "");

/**
 * `a ≡ b`: same structure, the very same tensor objects, deep-equal meta.
 *
 * @example
 *   sameTree(unmerge(merged), adapted) // true: not "close", the same tensors
 */
export const sameTree = (a: Node, b: Node): boolean => treeDiff(a, b) === undefined;

/** `sameTree` as an fp-ts `Eq`. */
export const eqTree: Eq<Node> = { equals: sameTree };

/** Tensors by identity (the focus of `param(name)`). */
export const eqTensorRef: Eq<tf.Tensor> = { equals: (a, b) => a === b };

// -------------------------------------------------------------------------------------
// tensor values
// -------------------------------------------------------------------------------------

const bitsOf = (t: tf.Tensor): ArrayLike<number> => {
  const d = t.dataSync();
  return d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : (d as ArrayLike<number>);
};

/**
 * Same dtype, shape and bits (NaN payloads and −0 included).
 *
 * @example
 *   sameBits(tf.tensor([1, 2]), tf.tensor([1, 2])) // true
 */
export const sameBits = (a: tf.Tensor, b: tf.Tensor): boolean => {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  const x = bitsOf(a);
  const y = bitsOf(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
};

/** An absolute and relative tolerance. */
export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** How far apart two tensors are, elementwise against a tolerance. */
export interface Closeness {
  readonly ok: boolean;
  /** max |a − b| */
  readonly maxError: number;
  readonly detail: string;
}

/**
 * `|a − b| ≤ atol + rtol·|b|` everywhere, with equal shapes and no NaN.
 *
 * @example
 *   allClose(merged, unmerged, lora.tolerance).ok
 */
export const allClose = (a: tf.Tensor, b: tf.Tensor, tol: Tolerance): Closeness => {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    return { ok: false, maxError: Infinity, detail: `shapes [${a.shape.join(", ")}] vs [${b.shape.join(", ")}]` };
  }
  const x = a.dataSync();
  const y = b.dataSync();
  let maxError = 0;
  let worst = -1;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    const yi = y[i] as number;
    const err = Math.abs(xi - yi);
    if (Number.isNaN(err) && !(Number.isNaN(xi) && Number.isNaN(yi))) {
      return { ok: false, maxError: NaN, detail: `NaN at ${i}: ${xi} vs ${yi}` };
    }
    if (err > tol.atol + tol.rtol * Math.abs(yi) && (worst < 0 || err > maxError)) worst = i;
    if (err > maxError) maxError = err;
  }
  return worst < 0
    ? { ok: true, maxError, detail: "" }
    : { ok: false, maxError, detail: `at ${worst}: ${x[worst]} vs ${y[worst]} (atol ${tol.atol}, rtol ${tol.rtol})` };
};

// -------------------------------------------------------------------------------------
// plain values
// -------------------------------------------------------------------------------------

/**
 * JSON-style deep equality: same keys (any order), arrays elementwise,
 * primitives by `===`.
 *
 * @example
 *   deepEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] }) // true
 */
export const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
};
