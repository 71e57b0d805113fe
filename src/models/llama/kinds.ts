/**
 * The LLaMA family (Llama, Mistral, Qwen2) as kinds:
 *
 *   llama (…ForCausalLM) ── model (llamaModel) ── embed_tokens, layers (moduleList of llamaBlock), norm; lm_head
 *   llamaBlock ── input_layernorm, self_attn (q/k/v/o_proj), post_attention_layernorm, mlp (gate/up/down_proj)
 *
 * RoPE tables and the causal mask are made once per forward by `llamaModel`
 * and passed to the blocks in `ctx`.
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
  repeatKv,
  scaledDotProduct,
  sideOf,
  splitHeads,
  withPast,
} from "../common/attention.js";
import { causalLmKind } from "../common/head.js";
import { applyRope, ropeTables, type Rope } from "./rope.js";

/** Static settings of a LLaMA-family backbone (`llamaModel` meta). */
export interface LlamaModelMeta {
  /** Inverse RoPE frequencies [head_dim / 2]. */
  readonly invFreq: ReadonlyArray<number>;
  /** Distinct sliding windows used by some layer (Mistral; Qwen2 with use_sliding_window). */
  readonly slidingWindows: ReadonlyArray<number>;
}

/** Static settings of one attention module. */
export interface LlamaAttentionMeta {
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly attentionDropout: number;
  readonly slidingWindow?: number;
}

interface LlamaSide {
  readonly rope?: Rope;
  readonly attentionBias?: tf.Tensor;
  readonly slidingBiases?: ReadonlyMap<number, tf.Tensor>;
}

const child = (n: Node, name: string): Node => {
  const c = n.children[name];
  if (c === undefined) throw new Error(`kind '${n.kind}': missing child '${name}' (have: ${Object.keys(n.children).join(", ")})`);
  return c;
};

/**
 * `LlamaModel`: ids [B, T] (or `ctx.inputsEmbeds`) → hidden states [B, T, D].
 *
 * @example
 *   apply(llama.children.model, ids, { side: { attentionMask } })   // [B, T, D]
 */
export const llamaModelKind: KindDef = {
  kind: "llamaModel",
  doc: "LlamaModel: embed_tokens, RoPE + causal mask, decoder layers, final RMSNorm",
  forward: (n, ids, ctx) => {
    const m = n.meta as unknown as LlamaModelMeta;
    const side = sideOf(ctx);
    const h = side.inputsEmbeds ?? forward(child(n, "embed_tokens"), ids, ctx);
    const [batch, len] = h.shape as [number, number, number];
    const past = pastLength(ctx);
    const rope = ropeTables(positionsOf(ctx, len), Float32Array.from(m.invFreq));
    const mask = side.attentionMask;
    const bias = attentionBias({ batch, queryLen: len, pastLen: past, causal: true, mask });
    const slidingBiases = new Map(
      m.slidingWindows.map((w) => [w, attentionBias({ batch, queryLen: len, pastLen: past, causal: true, mask, slidingWindow: w })] as const),
    );
    const out = forward(child(n, "layers"), h, { ...ctx, rope, attentionBias: bias, slidingBiases } satisfies Ctx & LlamaSide);
    return forward(child(n, "norm"), out, ctx);
  },
};

/**
 * One decoder layer: pre-norm attention and SwiGLU MLP with residuals.
 *
 * @example
 *   forward(layer, h, { ...ctx, layer: 0, rope, attentionBias })
 */
export const llamaBlockKind: KindDef = {
  kind: "llamaBlock",
  doc: "h = x + self_attn(input_layernorm(x)); h + mlp(post_attention_layernorm(h))",
  forward: (n, x, ctx) => {
    const h = tf.add(x, forward(child(n, "self_attn"), forward(child(n, "input_layernorm"), x, ctx), ctx));
    return tf.add(h, forward(child(n, "mlp"), forward(child(n, "post_attention_layernorm"), h, ctx), ctx));
  },
};

/**
 * Grouped-query attention with RoPE on q and k.
 *
 * @example
 *   forward(layer.children.self_attn, x, { ...ctx, layer: 0, rope, attentionBias })
 */
export const llamaAttentionKind: KindDef = {
  kind: "llamaAttention",
  doc: "q,k,v projections, RoPE, grouped-query softmax(q·kᵀ/√hd + mask)·v, o_proj",
  forward: (n, x, ctx) => {
    const m = n.meta as unknown as LlamaAttentionMeta;
    const side = ctx as unknown as LlamaSide;
    if (side.rope === undefined) throw new Error("llamaAttention: no RoPE tables in ctx (run it inside a llamaModel)");
    const q = applyRope(splitHeads(forward(child(n, "q_proj"), x, ctx), m.numHeads, m.headDim), side.rope);
    const k = applyRope(splitHeads(forward(child(n, "k_proj"), x, ctx), m.numKeyValueHeads, m.headDim), side.rope);
    const v = splitHeads(forward(child(n, "v_proj"), x, ctx), m.numKeyValueHeads, m.headDim);
    const [kAll, vAll] = withPast(ctx, k, v);
    const rep = m.numHeads / m.numKeyValueHeads;
    const bias = m.slidingWindow === undefined ? side.attentionBias : side.slidingBiases?.get(m.slidingWindow);
    const o = scaledDotProduct(q, repeatKv(kAll, rep), repeatKv(vAll, rep), bias, 1 / Math.sqrt(m.headDim), (p) =>
      dropoutIf(p, m.attentionDropout, ctx),
    );
    return forward(child(n, "o_proj"), mergeHeads(o), ctx);
  },
};

/**
 * SwiGLU feed-forward: `down_proj(act(gate_proj(x)) · up_proj(x))`.
 *
 * @example
 *   forward(layer.children.mlp, x, ctx)
 */
export const llamaMlpKind: KindDef = {
  kind: "llamaMlp",
  doc: "down_proj(silu(gate_proj(x)) · up_proj(x))",
  forward: (n, x, ctx) => {
    const act = (n.meta["activation"] as ActivationName | undefined) ?? "silu";
    const gated = tf.mul(activate(act, forward(child(n, "gate_proj"), x, ctx)), forward(child(n, "up_proj"), x, ctx));
    return forward(child(n, "down_proj"), gated, ctx);
  },
};

/**
 * `LlamaForCausalLM` (and Mistral's, Qwen2's): `model`, then `lm_head` (tied when the config says so).
 *
 * @example
 *   apply(llama, ids)   // logits [B, T, V]
 */
export const llamaKind: KindDef = causalLmKind("llama", "LlamaForCausalLM");

/**
 * Every LLaMA-family kind.
 *
 * @example
 *   const kinds = extendKinds(nnKinds, ...llamaKinds, moduleListKind)
 */
export const llamaKinds: ReadonlyArray<KindDef> = [llamaKind, llamaModelKind, llamaBlockKind, llamaAttentionKind, llamaMlpKind];
