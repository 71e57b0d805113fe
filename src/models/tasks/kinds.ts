/**
 * Task heads as kinds, shared by every backbone: `seqCls` (one label per
 * sequence) and `tokenCls` (one label per token), plus the pooling layers
 * BERT and RoBERTa put before their classifiers. The head modules keep HF's
 * names (`score`, `classifier`) so PEFT's `modules_to_save` finds them.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { forward, type Ctx, type KindDef } from "../../nn/registry.js";
import { dropoutIf, sideOf } from "../common/attention.js";

/**
 * How `seqCls` turns hidden states [B, T, D] into one vector per sequence:
 * `last` — the last token that is not padding (decoder models; HF finds it
 * from `pad_token_id`); `pooler` — the backbone's `pooler` child (BERT);
 * `head` — the head itself pools (RoBERTa's classification head).
 */
export type Pooling =
  | { readonly _tag: "last"; readonly padTokenId: number | undefined }
  | { readonly _tag: "pooler" }
  | { readonly _tag: "head" };

/** `meta` of `seqCls` and `tokenCls` roots. */
export interface TaskHeadMeta {
  readonly backbone: string;
  readonly head: string;
  readonly pooling?: Pooling;
  /** Dropout before the head (BERT's `classifier_dropout ?? hidden_dropout_prob`). */
  readonly headDropout?: number;
}

const childOf = (n: Node, name: string): Node => {
  const c = n.children[name];
  if (c === undefined) throw new Error(`kind '${n.kind}': missing child '${name}' (have: ${Object.keys(n.children).join(", ")})`);
  return c;
};

/**
 * Pick position `idx[b]` of each row of [B, T, D] (one-hot, so gradients need no gather kernel).
 *
 * @example
 *   pickPositions(h, tf.tensor1d([2, 4], "int32"))   // [B, D]: h[0, 2], h[1, 4]
 */
export const pickPositions = (h: tf.Tensor, idx: tf.Tensor): tf.Tensor => {
  const len = h.shape[1] as number;
  const oneHot = tf.cast(tf.oneHot(tf.cast(idx, "int32"), len), h.dtype);
  return tf.sum(tf.mul(h, tf.expandDims(oneHot, 2)), 1);
};

/**
 * The index of the last non-padding token of each row (HF's newest rule; handles left padding).
 *
 * @example
 *   lastNonPadIndex(tf.tensor2d([[5, 6, 0], [0, 7, 8]], [2, 3], "int32"), 0, ctx) // [1, 2]
 */
export const lastNonPadIndex = (ids: tf.Tensor, padTokenId: number | undefined, ctx: Ctx): tf.Tensor => {
  const embeds = sideOf(ctx).inputsEmbeds;
  const [batch, len] = (embeds ?? ids).shape as [number, number];
  if (embeds !== undefined || padTokenId === undefined) {
    if (embeds === undefined && batch > 1) throw new Error("seqCls: cannot handle batch sizes > 1 without a pad_token_id in the config");
    return tf.fill([batch], len - 1, "int32");
  }
  const nonPad = tf.cast(tf.notEqual(tf.cast(ids, "int32"), padTokenId), "int32");
  return tf.argMax(tf.mul(tf.range(0, len, 1, "int32"), nonPad), -1);
};

/**
 * `…ForSequenceClassification`: backbone, pooling, dropout, head → [B, num_labels].
 *
 * @example
 *   apply(clf, ids, { side: { attentionMask } })   // [B, num_labels]
 */
export const seqClsKind: KindDef = {
  kind: "seqCls",
  doc: "sequence classification: backbone → pool → head (score/classifier)",
  forward: (n, ids, ctx) => {
    const m = n.meta as unknown as TaskHeadMeta;
    const backbone = childOf(n, m.backbone);
    const h = forward(backbone, ids, ctx);
    const pooling = m.pooling ?? { _tag: "head" };
    const pooled =
      pooling._tag === "last"
        ? pickPositions(h, lastNonPadIndex(ids, pooling.padTokenId, ctx))
        : pooling._tag === "pooler"
          ? forward(childOf(backbone, "pooler"), h, ctx)
          : h;
    return forward(childOf(n, m.head), dropoutIf(pooled, m.headDropout, ctx), ctx);
  },
};

/**
 * `…ForTokenClassification`: backbone, dropout, head → [B, T, num_labels].
 *
 * @example
 *   apply(tagger, ids, { side: { attentionMask } })   // [B, T, num_labels]
 */
export const tokenClsKind: KindDef = {
  kind: "tokenCls",
  doc: "token classification: backbone → dropout → head per token",
  forward: (n, ids, ctx) => {
    const m = n.meta as unknown as TaskHeadMeta;
    const h = forward(childOf(n, m.backbone), ids, ctx);
    return forward(childOf(n, m.head), dropoutIf(h, m.headDropout, ctx), ctx);
  },
};

/**
 * BERT's pooler: `tanh(dense(h[:, 0]))`.
 *
 * @example
 *   forward(bert.children.pooler, h, ctx)   // [B, D]
 */
export const bertPoolerKind: KindDef = {
  kind: "bertPooler",
  doc: "tanh(dense(first token))",
  forward: (n, h, ctx) => {
    const [b, , d] = h.shape as [number, number, number];
    return tf.tanh(forward(childOf(n, "dense"), tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, d]), [b, d]), ctx));
  },
};

/**
 * RoBERTa's classification head: `out_proj(dropout(tanh(dense(dropout(h[:, 0])))))`.
 *
 * @example
 *   forward(clf.children.classifier, h, ctx)   // [B, num_labels]
 */
export const robertaClassificationHeadKind: KindDef = {
  kind: "robertaClassificationHead",
  doc: "first token → dropout → dense → tanh → dropout → out_proj",
  forward: (n, h, ctx) => {
    const [b, , d] = h.shape as [number, number, number];
    const p = n.meta["dropout"] as number | undefined;
    const first = dropoutIf(tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, d]), [b, d]), p, ctx);
    const hid = dropoutIf(tf.tanh(forward(childOf(n, "dense"), first, ctx)), p, ctx);
    return forward(childOf(n, "out_proj"), hid, ctx);
  },
};

/**
 * Every task-head kind.
 *
 * @example
 *   const kinds = extendKinds(nnKinds, ...taskKinds)
 */
export const taskKinds: ReadonlyArray<KindDef> = [seqClsKind, tokenClsKind, bertPoolerKind, robertaClassificationHeadKind];
