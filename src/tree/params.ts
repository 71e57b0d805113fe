/**
 * Folds over parameters: state dicts with Hugging Face key names, loading with
 * shape checks reported as data, the trainable/frozen partition and counts.
 */
import * as E from "fp-ts/lib/Either.js";
import type * as tf from "@tensorflow/tfjs-core";
import { mapChildren, node, setTrainable, trainableNames, type Node } from "./node.js";
import { paramKey, type Path } from "./path.js";

/** Tensors by state-dict key (`lin0.weight`). */
export type StateDict = Readonly<Record<string, tf.Tensor>>;

/** Every param of a tree with its path, in tree order. */
export const paramEntries = (
  t: Node,
): ReadonlyArray<{ readonly path: Path; readonly name: string; readonly key: string; readonly tensor: tf.Tensor; readonly trainable: boolean }> => {
  const out: Array<{ path: Path; name: string; key: string; tensor: tf.Tensor; trainable: boolean }> = [];
  const go = (n: Node, p: Path): void => {
    const tr = trainableNames(n);
    for (const [name, tensor] of Object.entries(n.params)) {
      out.push({ path: p, name, key: paramKey(p, name), tensor, trainable: tr.includes(name) });
    }
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k]);
  };
  go(t, []);
  return out;
};

/**
 * The state dict of a tree: Hugging Face key names, shared tensors (no copies).
 *
 * @example
 *   Object.keys(toStateDict(mlp)) // ["lin0.weight", "lin0.bias", "lin1.weight", "lin1.bias"]
 */
export const toStateDict = (t: Node): StateDict =>
  Object.fromEntries(paramEntries(t).map((e) => [e.key, e.tensor]));

/** What did not line up when loading a state dict. */
export interface StateDictMismatch {
  readonly _tag: "StateDictMismatch";
  readonly missing: ReadonlyArray<string>;
  readonly unexpected: ReadonlyArray<string>;
  readonly shapes: ReadonlyArray<{ readonly key: string; readonly expected: ReadonlyArray<number>; readonly got: ReadonlyArray<number> }>;
  readonly message: string;
}

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

const describeMismatch = (m: Omit<StateDictMismatch, "message" | "_tag">): string =>
  [
    m.shapes.map((s) => `${s.key}: expected [${s.expected.join(", ")}], got [${s.got.join(", ")}]`).join("; "),
    m.missing.length > 0 ? `missing keys: ${m.missing.join(", ")}` : "",
    m.unexpected.length > 0 ? `unexpected keys: ${m.unexpected.join(", ")}` : "",
  ]
    .filter((s) => s !== "")
    .join("; ");

/**
 * Put the tensors of a state dict into a tree whose params already have the
 * right shapes. Every shape is checked; with `strict` (default) missing and
 * unexpected keys are errors too, as torch's `load_state_dict(strict=True)` —
 * but returned as data. The caller keeps ownership of the tree's old tensors.
 *
 * @example
 *   const loaded = loadStateDict(skeleton, await loadTensors("model.safetensors"))
 *   // Left({ missing: ["lin1.bias"], ... }) or Right(tree)
 */
export const loadStateDict = (
  t: Node,
  sd: StateDict,
  options: { readonly strict?: boolean } = {},
): E.Either<StateDictMismatch, Node> => {
  const strict = options.strict ?? true;
  const used = new Set<string>();
  const missing: string[] = [];
  const shapes: Array<{ key: string; expected: ReadonlyArray<number>; got: ReadonlyArray<number> }> = [];
  const go = (n: Node, p: Path): Node => {
    let params: Record<string, tf.Tensor> | undefined;
    for (const [name, old] of Object.entries(n.params)) {
      const key = paramKey(p, name);
      const next = sd[key];
      if (next === undefined) {
        missing.push(key);
        continue;
      }
      used.add(key);
      if (!sameShape(old.shape, next.shape)) {
        shapes.push({ key, expected: old.shape, got: next.shape });
        continue;
      }
      params ??= { ...n.params };
      params[name] = next;
    }
    const self = mapChildren(n, (c, k) => go(c, [...p, k]));
    return params === undefined ? self : node(n.kind, { params, children: self.children, meta: n.meta });
  };
  const out = go(t, []);
  const unexpected = Object.keys(sd).filter((k) => !used.has(k));
  const bad = shapes.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0));
  if (!bad) return E.right(out);
  const m = { missing: strict ? missing : [], unexpected: strict ? unexpected : [], shapes };
  return E.left({ _tag: "StateDictMismatch", ...m, message: describeMismatch(m) });
};

/** The trainable and frozen params of a tree, by state-dict key. */
export interface Partition {
  readonly trainable: StateDict;
  readonly frozen: StateDict;
}

/**
 * Split a tree's params into trainable and frozen (Equinox's `partition`).
 * Law: `combine(t, partition(t).trainable)` ≡ `t`.
 */
export const partition = (t: Node): Partition => {
  const trainable: Record<string, tf.Tensor> = {};
  const frozen: Record<string, tf.Tensor> = {};
  for (const e of paramEntries(t)) (e.trainable ? trainable : frozen)[e.key] = e.tensor;
  return { trainable, frozen };
};

/**
 * Put tensors back into a tree by key (Equinox's `combine`). Unknown keys are
 * an error naming them; shapes must match. Untouched nodes are shared.
 */
export const combine = (t: Node, ...dicts: ReadonlyArray<StateDict>): Node => {
  const merged: Record<string, tf.Tensor> = Object.assign({}, ...dicts);
  const r = loadStateDict(t, merged, { strict: false });
  if (E.isLeft(r)) throw new Error(`combine: ${r.left.message}`);
  const known = new Set(paramEntries(t).map((e) => e.key));
  const unknown = Object.keys(merged).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`combine: unknown keys: ${unknown.join(", ")}`);
  return r.right;
};

/** Parameter counts: total and trainable (as PEFT's `get_nb_trainable_parameters`). */
export const countParams = (t: Node): { readonly total: number; readonly trainable: number } => {
  let total = 0;
  let trainable = 0;
  for (const e of paramEntries(t)) {
    total += e.tensor.size;
    if (e.trainable) trainable += e.tensor.size;
  }
  return { total, trainable };
};

/**
 * Mark params trainable (or frozen) where `pick(key)` holds; others keep
 * their flag. For full fine-tuning: `markTrainable(model, () => true)`.
 *
 * @example
 *   const full = markTrainable(base, () => true)
 *   const onlyHead = markTrainable(base, (key) => key.startsWith("lin1."))
 */
export const markTrainable = (t: Node, pick: (key: string) => boolean, trainable = true): Node => {
  const go = (n: Node, p: Path): Node => {
    const self = mapChildren(n, (c, k) => go(c, [...p, k]));
    const current = trainableNames(self);
    const names = Object.keys(self.params).filter((name) =>
      pick(paramKey(p, name)) ? trainable : current.includes(name),
    );
    return setTrainable(self, names);
  };
  return go(t, []);
};

/** `loadStateDict` under the name of its law: `fromStateDict(t, toStateDict(t)) ≡ t`. */
export const fromStateDict = loadStateDict;
