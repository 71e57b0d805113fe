/**
 * The kind registry: behaviour for node kinds, as a value.
 *
 * `forward(node, x, ctx)` dispatches on `node.kind` through `ctx.kinds`.
 * Architectures are kinds whose forward calls `forward(child, …)`, so an adapter
 * that wraps a leaf is picked up by every architecture unchanged. The registry
 * is an immutable map passed in the context — no import-time global state:
 * users extend it with their own kinds (`extendKinds(builtinKinds, myKind)`).
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";

/** Side inputs of a forward pass. Kinds may read extra fields (attention masks, caches…). */
export interface Ctx {
  readonly kinds: Kinds;
  /** Training mode: dropout is active. */
  readonly training: boolean;
  readonly [side: string]: unknown;
}

/** The forward of a kind. Runs inside a `tf.tidy` opened by the caller. */
export type Forward = (n: Node, x: tf.Tensor, ctx: Ctx) => tf.Tensor;

/** What a kind is: its name and forward. */
export interface KindDef {
  readonly kind: string;
  readonly forward: Forward;
  /** One line on what the kind computes (shown in docs and errors). */
  readonly doc?: string;
}

/** A registry of kinds. */
export type Kinds = ReadonlyMap<string, KindDef>;

/**
 * Build a registry from kind definitions (later ones win).
 *
 * @example
 *   const kinds = makeKinds(linearKind, reluKind)
 */
export const makeKinds = (...defs: ReadonlyArray<KindDef>): Kinds => new Map(defs.map((d) => [d.kind, d]));

/** A registry with more kinds (later ones replace earlier ones of the same name). */
export const extendKinds = (base: Kinds, ...defs: ReadonlyArray<KindDef>): Kinds =>
  new Map([...base, ...defs.map((d) => [d.kind, d] as const)]);

/**
 * Run a node's forward.
 *
 * @example
 *   const y = tf.tidy(() => forward(mlp, x, { kinds: builtinKinds, training: false }))
 */
export const forward: Forward = (n, x, ctx) => {
  const def = ctx.kinds.get(n.kind);
  if (def === undefined) {
    throw new Error(
      `no forward for kind '${n.kind}' (known kinds: ${[...ctx.kinds.keys()].join(", ")}); register it with extendKinds`,
    );
  }
  return def.forward(n, x, ctx);
};
