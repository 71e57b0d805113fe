/**
 * Containers: `sequential` (children applied in `meta.order`, names may repeat
 * so one parameter-free child can be applied twice) and `dict` (named slots,
 * e.g. PEFT's per-adapter `ModuleDict`s; it has no forward of its own).
 */
import { node, type Node } from "../tree/node.js";
import { forward, type KindDef } from "./registry.js";

export const sequentialKind: KindDef = {
  kind: "sequential",
  doc: "apply children in meta.order (default: insertion order)",
  forward: (n, x, ctx) => {
    const order = (n.meta["order"] as ReadonlyArray<string> | undefined) ?? Object.keys(n.children);
    return order.reduce((h, name) => {
      const c = n.children[name];
      if (c === undefined) throw new Error(`sequential: no child '${name}' (have: ${Object.keys(n.children).join(", ")})`);
      return forward(c, h, ctx);
    }, x);
  },
};

export const dictKind: KindDef = {
  kind: "dict",
  doc: "named slots (per-adapter modules or params); not callable",
  forward: () => {
    throw new Error("a 'dict' node holds named slots and has no forward; call one of its children");
  },
};

/**
 * A sequential container.
 *
 * @example
 *   const mlp = sequential({ lin0, relu: activation("relu"), lin1 })
 */
export const sequential = (children: Readonly<Record<string, Node>>, order?: ReadonlyArray<string>): Node<"sequential"> =>
  node("sequential", { children, meta: order === undefined ? {} : { order } });

/** A `dict` of named slots. */
export const dict = (children: Readonly<Record<string, Node>> = {}, params: Readonly<Record<string, import("@tensorflow/tfjs-core").Tensor>> = {}): Node<"dict"> =>
  node("dict", { children, params });
