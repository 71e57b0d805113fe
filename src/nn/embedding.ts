/** `embedding`: torch `nn.Embedding`, weight [num_embeddings, dim], rows gathered by int ids. */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../tree/node.js";
import { normal, split, type Seed } from "./init.js";
import type { KindDef } from "./registry.js";

export type Embedding = Node<"embedding", "weight">;

/** Ids as int32 (int64 inputs arrive as int32 from the safetensors reader). */
export const asIds = (ids: tf.Tensor): tf.Tensor => (ids.dtype === "int32" ? ids : tf.cast(ids, "int32"));

export const embeddingKind: KindDef = {
  kind: "embedding",
  doc: "y = W[ids], W: [num_embeddings, dim]",
  forward: (n, ids) => tf.gather(n.params["weight"] as tf.Tensor, asIds(ids)),
};

/** An `embedding` node, N(0,1) init as torch. */
export const embedding = (cfg: { readonly numEmbeddings: number; readonly dim: number; readonly std?: number }, seed: Seed): Embedding =>
  node("embedding", {
    params: { weight: normal([cfg.numEmbeddings, cfg.dim], cfg.std ?? 1, split(seed, "weight")) },
    meta: { numEmbeddings: cfg.numEmbeddings, embeddingDim: cfg.dim },
  });
