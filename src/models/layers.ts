/**
 * Models described as a list of layers — the `model.layers` of a golden case
 * (`{name, op, ...}` with PyTorch's field names) — built as a `sequential`.
 * This is how the small MLP / Conv / Embedding test models are made.
 */
import * as t from "io-ts";
import type { Node } from "../tree/node.js";
import { activation, activationNames, dropout, flatten, type ActivationName } from "../nn/activation.js";
import { sequential } from "../nn/container.js";
import { conv2d } from "../nn/conv.js";
import { embedding } from "../nn/embedding.js";
import { split, type Seed } from "../nn/init.js";
import { linear } from "../nn/linear.js";
import { layerNorm } from "../nn/norm.js";

const Pair = t.union([t.number, t.tuple([t.number, t.number])]);

/** One layer of a layer-list model, as the golden cases spell it. */
export const LayerSpec = t.intersection([
  t.type({ name: t.string, op: t.string }),
  t.partial({
    in_features: t.number,
    out_features: t.number,
    bias: t.boolean,
    in_channels: t.number,
    out_channels: t.number,
    kernel_size: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
    groups: t.number,
    num_embeddings: t.number,
    embedding_dim: t.number,
    p: t.number,
    dim: t.number,
    eps: t.number,
  }),
]);
export type LayerSpec = t.TypeOf<typeof LayerSpec>;

const need = (spec: LayerSpec, field: keyof LayerSpec): number => {
  const v = spec[field];
  if (typeof v !== "number") throw new Error(`layer '${spec.name}' (${spec.op}): missing numeric field '${String(field)}'`);
  return v;
};

const layerOf = (spec: LayerSpec, seed: Seed): Node => {
  const s = split(seed, spec.name);
  switch (spec.op) {
    case "linear":
      return linear({ inFeatures: need(spec, "in_features"), outFeatures: need(spec, "out_features"), bias: spec.bias ?? true }, s);
    case "conv2d":
      return conv2d(
        {
          inChannels: need(spec, "in_channels"),
          outChannels: need(spec, "out_channels"),
          kernelSize: spec.kernel_size ?? 1,
          stride: spec.stride ?? 1,
          padding: spec.padding ?? 0,
          dilation: spec.dilation ?? 1,
          groups: spec.groups ?? 1,
          bias: spec.bias ?? true,
        },
        s,
      );
    case "embedding":
      return embedding({ numEmbeddings: need(spec, "num_embeddings"), dim: need(spec, "embedding_dim") }, s);
    case "layer_norm":
      return layerNorm({ dim: need(spec, "dim"), eps: spec.eps ?? 1e-5 });
    case "dropout":
      return dropout(spec.p ?? 0);
    case "flatten":
      return flatten();
    default:
      if ((activationNames as ReadonlyArray<string>).includes(spec.op)) return activation(spec.op as ActivationName);
      throw new Error(`layer '${spec.name}': unknown op '${spec.op}' (known: linear, conv2d, embedding, layer_norm, dropout, flatten, ${activationNames.join(", ")})`);
  }
};

/**
 * Build a `sequential` model from layer specs, randomly initialised as torch
 * would (load real weights afterwards with `loadStateDict`). Layers that share
 * a name (a parameter-free `relu` used twice) become one child applied twice.
 *
 * @example
 *   const mlp = fromLayers([
 *     { name: "lin0", op: "linear", in_features: 10, out_features: 20 },
 *     { name: "relu", op: "relu" },
 *     { name: "lin1", op: "linear", in_features: 20, out_features: 2 },
 *     { name: "sm", op: "log_softmax" },
 *   ], 0)
 */
export const fromLayers = (specs: ReadonlyArray<LayerSpec>, seed: Seed = 0): Node => {
  const children: Record<string, Node> = {};
  for (const spec of specs) {
    if (spec.name in children) {
      if (Object.keys(children[spec.name]?.params ?? {}).length > 0) {
        throw new Error(`layer name '${spec.name}' is used twice for a layer with parameters`);
      }
      continue;
    }
    children[spec.name] = layerOf(spec, seed);
  }
  return sequential(children, specs.map((s) => s.name));
};
