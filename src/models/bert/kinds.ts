/**
 * BERT and RoBERTa encoders as kinds, with HF's module names:
 *
 *   bertModel ── embeddings (word_embeddings, position_embeddings, token_type_embeddings, LayerNorm),
 *                encoder ── layer (moduleList of bertLayer), [pooler]
 *   bertLayer ── attention ── self (query, key, value), output (dense, LayerNorm)
 *                intermediate (dense), output (dense, LayerNorm)
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { activate, type ActivationName } from "../../nn/activation.js";
import { forward, type Ctx, type KindDef } from "../../nn/registry.js";
import { attentionBias, dropoutIf, mergeHeads, pastLength, scaledDotProduct, sideOf, splitHeads, withPast } from "../common/attention.js";

/** Static settings of the BERT kinds (in `meta`). */
export interface BertMeta {
  readonly numHeads: number;
  readonly headDim: number;
  readonly hiddenDropout: number;
  readonly attentionDropout: number;
  readonly activation: ActivationName;
  /** RoBERTa numbers positions from `padding_idx + 1`, skipping padding. */
  readonly robertaPositions: boolean;
  readonly paddingIdx: number;
}

const child = (n: Node, name: string): Node => {
  const c = n.children[name];
  if (c === undefined) throw new Error(`kind '${n.kind}': missing child '${name}' (have: ${Object.keys(n.children).join(", ")})`);
  return c;
};

const metaOf = (n: Node): BertMeta => n.meta as unknown as BertMeta;

/**
 * Position ids: BERT `arange(past, past + T)`; RoBERTa counts non-padding
 * tokens from `padding_idx + 1` and gives padding `padding_idx`.
 *
 * @example
 *   bertPositions(ids, meta, ctx, 5) // RoBERTa, ids [[0, 7, 8, 1, 1]], pad 1 → [[2, 3, 4, 1, 1]]
 */
export const bertPositions = (ids: tf.Tensor, m: BertMeta, ctx: Ctx, len: number): tf.Tensor => {
  const side = sideOf(ctx);
  if (side.positionIds !== undefined) return tf.cast(side.positionIds, "int32");
  const past = pastLength(ctx);
  if (!m.robertaPositions) return tf.reshape(tf.range(past, past + len, 1, "int32"), [1, len]);
  if (side.inputsEmbeds !== undefined) {
    return tf.reshape(tf.range(m.paddingIdx + 1, m.paddingIdx + 1 + len, 1, "int32"), [1, len]);
  }
  const notPad = tf.cast(tf.notEqual(tf.cast(ids, "int32"), m.paddingIdx), "int32");
  return tf.add(tf.mul(tf.add(tf.cumsum(notPad, 1), past), notPad), m.paddingIdx);
};

/**
 * Word + position + token-type embeddings, LayerNorm, dropout.
 *
 * @example
 *   forward(bert.children.embeddings, ids, { ...ctx, tokenTypeIds })   // [B, T, D]
 */
export const bertEmbeddingsKind: KindDef = {
  kind: "bertEmbeddings",
  doc: "LayerNorm(word[ids] + position[pos] + token_type[types])",
  forward: (n, ids, ctx) => {
    const m = metaOf(n);
    const side = sideOf(ctx);
    const words = side.inputsEmbeds ?? forward(child(n, "word_embeddings"), ids, ctx);
    const [b, len] = words.shape as [number, number, number];
    const pos = forward(child(n, "position_embeddings"), bertPositions(ids, m, ctx, len), ctx);
    const types = side.tokenTypeIds ?? tf.zeros([b, len], "int32");
    const sum = tf.add(tf.add(words, pos), forward(child(n, "token_type_embeddings"), types, ctx));
    return dropoutIf(forward(child(n, "LayerNorm"), sum, ctx), m.hiddenDropout, ctx);
  },
};

/**
 * `BertModel` / `RobertaModel`: ids [B, T] → sequence output [B, T, D] (the pooler is run by heads that want it).
 *
 * @example
 *   apply(bertModel, ids, { side: { attentionMask } })   // last hidden state [B, T, D]
 */
export const bertModelKind: KindDef = {
  kind: "bertModel",
  doc: "embeddings, then the encoder with a padding mask (bidirectional)",
  forward: (n, ids, ctx) => {
    const side = sideOf(ctx);
    const h = forward(child(n, "embeddings"), ids, ctx);
    const [batch, len] = h.shape as [number, number, number];
    const bias = attentionBias({ batch, queryLen: len, pastLen: pastLength(ctx), causal: false, mask: side.attentionMask });
    return forward(child(n, "encoder"), h, { ...ctx, attentionBias: bias });
  },
};

/**
 * The encoder: its `layer` module list.
 *
 * @example
 *   forward(encoder, h, { ...ctx, attentionBias })
 */
export const bertEncoderKind: KindDef = {
  kind: "bertEncoder",
  doc: "the layers in order",
  forward: (n, h, ctx) => forward(child(n, "layer"), h, ctx),
};

/**
 * One encoder layer (post-norm).
 *
 * @example
 *   forward(layer, h, { ...ctx, layer: 0, attentionBias })
 */
export const bertLayerKind: KindDef = {
  kind: "bertLayer",
  doc: "a = attention(x); LayerNorm(dense(act(dense(a))) + a)",
  forward: (n, x, ctx) => {
    const a = forward(child(n, "attention"), x, ctx);
    const inter = forward(child(n, "intermediate"), a, ctx);
    return forward(child(n, "output"), inter, { ...ctx, residual: a });
  },
};

/**
 * Self-attention plus its output block.
 *
 * @example
 *   forward(layer.children.attention, h, { ...ctx, attentionBias })
 */
export const bertAttentionKind: KindDef = {
  kind: "bertAttention",
  doc: "LayerNorm(dense(self(x)) + x)",
  forward: (n, x, ctx) => forward(child(n, "output"), forward(child(n, "self"), x, ctx), { ...ctx, residual: x }),
};

/**
 * Bidirectional multi-head attention over `query`, `key`, `value`.
 *
 * @example
 *   forward(attention.children.self, h, { ...ctx, attentionBias })   // [B, T, D]
 */
export const bertSelfAttentionKind: KindDef = {
  kind: "bertSelfAttention",
  doc: "softmax(q·kᵀ/√hd + padding mask)·v, heads concatenated",
  forward: (n, x, ctx) => {
    const m = metaOf(n);
    const heads = (name: string): tf.Tensor => splitHeads(forward(child(n, name), x, ctx), m.numHeads, m.headDim);
    const q = heads("query");
    const [k, v] = withPast(ctx, heads("key"), heads("value"));
    const o = scaledDotProduct(q, k, v, sideOf(ctx).attentionBias, 1 / Math.sqrt(m.headDim), (p) => dropoutIf(p, m.attentionDropout, ctx));
    return mergeHeads(o);
  },
};

/**
 * `dense`, dropout, then `LayerNorm(· + ctx.residual)` (BertSelfOutput / BertOutput).
 *
 * @example
 *   forward(layer.children.output, inter, { ...ctx, residual: a })
 */
export const bertResidualKind: KindDef = {
  kind: "bertResidual",
  doc: "LayerNorm(dropout(dense(h)) + residual), residual from ctx",
  forward: (n, h, ctx) => {
    const residual = ctx["residual"] as tf.Tensor | undefined;
    if (residual === undefined) throw new Error("bertResidual: no ctx.residual (run it inside bertLayer/bertAttention)");
    const y = dropoutIf(forward(child(n, "dense"), h, ctx), metaOf(n).hiddenDropout, ctx);
    return forward(child(n, "LayerNorm"), tf.add(y, residual), ctx);
  },
};

/**
 * `act(dense(x))` (BertIntermediate).
 *
 * @example
 *   forward(layer.children.intermediate, a, ctx)   // [B, T, intermediate_size]
 */
export const bertIntermediateKind: KindDef = {
  kind: "bertIntermediate",
  doc: "act(dense(x)), act = exact gelu by default",
  forward: (n, x, ctx) => activate(metaOf(n).activation, forward(child(n, "dense"), x, ctx)),
};

/**
 * Every BERT kind.
 *
 * @example
 *   const kinds = extendKinds(nnKinds, ...bertKinds, moduleListKind, ...taskKinds)
 */
export const bertKinds: ReadonlyArray<KindDef> = [
  bertModelKind,
  bertEmbeddingsKind,
  bertEncoderKind,
  bertLayerKind,
  bertAttentionKind,
  bertSelfAttentionKind,
  bertResidualKind,
  bertIntermediateKind,
];
