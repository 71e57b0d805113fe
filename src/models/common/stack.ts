/**
 * `moduleList`: torch's `nn.ModuleList` of transformer blocks (`h`, `layers`,
 * `layer`). Children are named `0`, `1`, … and applied in numeric order; each
 * block sees its index as `ctx.layer`, which is how per-layer side inputs
 * (prefix key/values, cache entries) find their layer.
 */
import type * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../../tree/node.js";
import { forward, type KindDef } from "../../nn/registry.js";

/**
 * The block names of a module list in numeric order.
 *
 * @example
 *   blockNames(gpt2.children.transformer.children.h) // ["0", "1", …, "11"]
 */
export const blockNames = (n: Node): ReadonlyArray<string> =>
  Object.keys(n.children)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));

/**
 * The module list's forward: every block in order.
 *
 * @example
 *   forward(model.children.layers, h, ctx)   // every block, ctx.layer = 0, 1, …
 */
export const moduleListKind: KindDef = {
  kind: "moduleList",
  doc: "blocks 0…N−1 applied in order, each with ctx.layer = its index",
  forward: (n, x, ctx) =>
    blockNames(n).reduce((h: tf.Tensor, name) => forward(n.children[name] as Node, h, { ...ctx, layer: Number(name) }), x),
};

/**
 * A module list of `count` blocks made by `block(i)`.
 *
 * @example
 *   const h = moduleList(12, (i) => gpt2Block(cfg, src, `transformer.h.${i}`))
 */
export const moduleList = (count: number, block: (i: number) => Node): Node =>
  node("moduleList", { children: Object.fromEntries(Array.from({ length: count }, (_, i) => [String(i), block(i)])) });
