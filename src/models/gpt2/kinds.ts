/**
 * GPT-2 as kinds. Every weight is reached through `forward(child)`, so an
 * adapter wrapping `c_attn`, `c_proj`, `c_fc`, `wte` or `wpe` is used as is.
 *
 *   gpt2 (GPT2LMHeadModel) ── transformer (gpt2Model) ── wte, wpe, h (moduleList of gpt2Block), ln_f
 *   gpt2Block ── ln_1, attn (gpt2Attention: c_attn, c_proj), ln_2, mlp (gpt2Mlp: c_fc, c_proj)
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { activate, type ActivationName } from "../../nn/activation.js";
import { forward, type Ctx, type KindDef } from "../../nn/registry.js";
import {
  attentionBias,
  dropoutIf,
  mergeHeads,
  pastLength,
  positionsOf,
  scaledDotProduct,
  sideOf,
  splitHeads,
  withPast,
} from "../common/attention.js";
import { causalLmKind } from "../common/head.js";
import { fusedSelfAttention } from "../../backend/attention.js";

/** Static settings of a GPT-2 backbone and its blocks (in `meta`). */
export interface Gpt2Meta {
  readonly numHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  readonly embdPdrop: number;
  readonly residPdrop: number;
  readonly attnPdrop: number;
  readonly activation: ActivationName;
  readonly scaleAttnWeights: boolean;
  readonly scaleAttnByInverseLayerIdx: boolean;
}

const child = (n: Node, name: string): Node => {
  const c = n.children[name];
  if (c === undefined) throw new Error(`kind '${n.kind}': missing child '${name}' (have: ${Object.keys(n.children).join(", ")})`);
  return c;
};

const metaOf = (n: Node): Gpt2Meta => n.meta as unknown as Gpt2Meta;

/**
 * `GPT2Model`: ids [B, T] (or `ctx.inputsEmbeds`) → hidden states [B, T, D].
 *
 * @example
 *   apply(gpt2.children.transformer, ids, { side: { attentionMask } })   // [B, T, D]
 */
export const gpt2ModelKind: KindDef = {
  kind: "gpt2Model",
  doc: "GPT2Model: wte + wpe, blocks with a causal + padding mask, ln_f",
  forward: (n, ids, ctx) => {
    const m = metaOf(n);
    const side = sideOf(ctx);
    const embeds = side.inputsEmbeds ?? forward(child(n, "wte"), ids, ctx);
    const [batch, len] = embeds.shape as [number, number, number];
    const past = pastLength(ctx);
    if (side.positionIds === undefined && past + len > m.maxPositions) {
      throw new Error(`gpt2: ${past + len} positions (past ${past} + ${len}) exceed n_positions = ${m.maxPositions}`);
    }
    const pos = positionsOf(ctx, len);
    let h = tf.add(embeds, forward(child(n, "wpe"), pos, ctx));
    h = dropoutIf(h, m.embdPdrop, ctx);
    const bias = attentionBias({ batch, queryLen: len, pastLen: past, causal: true, mask: side.attentionMask });
    h = forward(child(n, "h"), h, { ...ctx, attentionBias: bias });
    return forward(child(n, "ln_f"), h, ctx);
  },
};

/**
 * One transformer block: pre-norm attention and MLP with residuals.
 *
 * @example
 *   forward(block, h, { ...ctx, layer: 0, attentionBias })
 */
export const gpt2BlockKind: KindDef = {
  kind: "gpt2Block",
  doc: "h = x + attn(ln_1(x)); h + mlp(ln_2(h))",
  forward: (n, x, ctx) => {
    const h = tf.add(x, forward(child(n, "attn"), forward(child(n, "ln_1"), x, ctx), ctx));
    return tf.add(h, forward(child(n, "mlp"), forward(child(n, "ln_2"), h, ctx), ctx));
  },
};

const attentionScale = (m: Gpt2Meta, ctx: Ctx): number => {
  let s = m.scaleAttnWeights ? 1 / Math.sqrt(m.headDim) : 1;
  if (m.scaleAttnByInverseLayerIdx) s /= ((sideOf(ctx).layer ?? 0) + 1);
  return s;
};

/**
 * Multi-head self-attention with a fused `c_attn` (q, k, v) and `c_proj`.
 *
 * @example
 *   forward(block.children.attn, ln1, { ...ctx, layer: 0, attentionBias })
 */
export const gpt2AttentionKind: KindDef = {
  kind: "gpt2Attention",
  doc: "q,k,v = split(c_attn(x)); softmax(q·kᵀ/√hd + mask)·v; c_proj",
  forward: (n, x, ctx) => {
    const m = metaOf(n);
    const d = m.numHeads * m.headDim;
    const qkv = forward(child(n, "c_attn"), x, ctx);
    const side = sideOf(ctx);
    // Without earlier keys/values, observers or attention dropout, one fused
    // kernel reads q, k, v in place from c_attn's output (native GEMM only).
    const plain =
      side.prefixKeyValues === undefined && side.pastKeyValues === undefined && side.onKeyValues === undefined && !(ctx.training && m.attnPdrop > 0);
    const fused = plain ? fusedSelfAttention(qkv, side.attentionBias, m.numHeads, attentionScale(m, ctx)) : undefined;
    if (fused !== undefined) return dropoutIf(forward(child(n, "c_proj"), fused, ctx), m.residPdrop, ctx);
    const [q, k, v] = tf.split(qkv, [d, d, d], -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [kAll, vAll] = withPast(ctx, splitHeads(k, m.numHeads, m.headDim), splitHeads(v, m.numHeads, m.headDim));
    const bias = sideOf(ctx).attentionBias;
    const q4 = splitHeads(q, m.numHeads, m.headDim);
    const o = scaledDotProduct(q4, kAll, vAll, bias, attentionScale(m, ctx), (p) => dropoutIf(p, m.attnPdrop, ctx));
    const out = forward(child(n, "c_proj"), mergeHeads(o), ctx);
    return dropoutIf(out, m.residPdrop, ctx);
  },
};

/**
 * The feed-forward part: `c_proj(act(c_fc(x)))`.
 *
 * @example
 *   forward(block.children.mlp, ln2, ctx)
 */
export const gpt2MlpKind: KindDef = {
  kind: "gpt2Mlp",
  doc: "c_proj(act(c_fc(x))), act = gelu_new by default",
  forward: (n, x, ctx) => {
    const m = metaOf(n);
    const hid = activate(m.activation, forward(child(n, "c_fc"), x, ctx));
    return dropoutIf(forward(child(n, "c_proj"), hid, ctx), m.residPdrop, ctx);
  },
};

/**
 * `GPT2LMHeadModel`: `transformer`, then the lm_head tied to `transformer.wte`.
 *
 * @example
 *   apply(gpt2, ids)   // logits [B, T, V]
 */
export const gpt2Kind: KindDef = causalLmKind("gpt2", "GPT2LMHeadModel");

/**
 * Every GPT-2 kind.
 *
 * @example
 *   const kinds = extendKinds(nnKinds, ...gpt2Kinds, moduleListKind)
 */
export const gpt2Kinds: ReadonlyArray<KindDef> = [gpt2Kind, gpt2ModelKind, gpt2BlockKind, gpt2AttentionKind, gpt2MlpKind];
