/**
 * The causal-LM root shared by GPT-2 and the LLaMA family: a backbone child
 * producing hidden states, then `lm_head` — a child when untied, else the
 * input embedding matrix (declared in `meta.tied`, never duplicated).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { getAt } from "../../tree/optics.js";
import { fromString } from "../../tree/path.js";
import { dense } from "../../nn/linear.js";
import { forward, type Ctx, type KindDef } from "../../nn/registry.js";

/** Fields every model root built here carries in `meta`. */
export interface RootMeta {
  /** HF `model_type` (`gpt2`, `llama`, `bert`, …). */
  readonly modelType: string;
  /** PEFT task type of the head. */
  readonly task: "CAUSAL_LM" | "SEQ_CLS" | "TOKEN_CLS" | "FEATURE_EXTRACTION";
  /** The HF `config.json` object (snake_case), written back by `saveModel`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Child name of the backbone (`transformer`, `model`, `bert`), or "" when the root is the backbone. */
  readonly backbone: string;
  /** Module path of the input embedding (`transformer.wte`): PEFT's `get_input_embeddings()`. */
  readonly inputEmbeddings: string;
  /** Tied state-dict keys: `{ "lm_head.weight": "transformer.wte.weight" }`. */
  readonly tied?: Readonly<Record<string, string>>;
  /** PEFT's default LoRA `target_modules` for this model type (read by `inject` when a config has none). */
  readonly defaultTargetModules?: ReadonlyArray<string>;
  /** Sizes PEFT's prompt-learning methods need. */
  readonly dims: {
    readonly numLayers: number;
    readonly numAttentionHeads: number;
    readonly numKeyValueHeads: number;
    readonly hiddenSize: number;
    readonly headDim: number;
    readonly vocabSize: number;
  };
}

/**
 * The root meta of a model built by this library (throws on a foreign tree).
 *
 * @example
 *   rootMeta(gpt2).dims.numLayers // 12
 */
export const rootMeta = (model: Node): RootMeta => {
  const m = model.meta as Partial<RootMeta>;
  if (typeof m.modelType !== "string" || m.dims === undefined) {
    throw new Error(`not a model root built by peft-ts models (kind '${model.kind}' has no meta.modelType/dims)`);
  }
  return m as RootMeta;
};

/**
 * The weight [V, D] of an embedding node, or of the embedding an adapter
 * wraps (`base_layer`): what a tied LM head multiplies by, as HF ties the
 * head to the base weight.
 *
 * @example
 *   embeddingWeight(getAt(gpt2, ["transformer", "wte"])).shape // [50257, 768]
 */
export const embeddingWeight = (n: Node): tf.Tensor => {
  let cur: Node | undefined = n;
  while (cur !== undefined) {
    const w = cur.params["weight"];
    if (w !== undefined) return w;
    cur = cur.children["base_layer"];
  }
  throw new Error(`embeddingWeight: node of kind '${n.kind}' has no 'weight' and no 'base_layer' holding one`);
};

/**
 * The input embedding node of a model root (`transformer.wte`, `model.embed_tokens`).
 *
 * @example
 *   inputEmbeddings(llama).kind // "embedding" (model.embed_tokens)
 */
export const inputEmbeddings = (model: Node): Node => getAt(model, fromString(rootMeta(model).inputEmbeddings));

/**
 * Hidden states → logits: `forward(lm_head)` when the root has an `lm_head`
 * child, else `h · Eᵀ` with the (tied) input embedding matrix.
 *
 * @example
 *   const logits = lmHeadForward(root, hidden, ctx)   // [B, T, V]
 */
export const lmHeadForward = (root: Node, h: tf.Tensor, ctx: Ctx): tf.Tensor => {
  const head = root.children["lm_head"];
  if (head !== undefined) return forward(head, h, ctx);
  const emb = (root.meta as Partial<RootMeta>).inputEmbeddings;
  if (emb === undefined) throw new Error(`kind '${root.kind}': no lm_head child and no meta.inputEmbeddings to tie to`);
  return dense(h, embeddingWeight(getAt(root, fromString(emb))), true);
};

/**
 * The forward of a causal-LM root: `ids [B, T] → logits [B, T, V]`.
 * Side inputs (`attentionMask`, `inputsEmbeds`, caches…) pass through `ctx`.
 *
 * @example
 *   const logits = causalLmForward(gpt2, ids, ctx)   // [B, T, V]
 */
export const causalLmForward = (n: Node, ids: tf.Tensor, ctx: Ctx): tf.Tensor => {
  const name = (n.meta as Partial<RootMeta>).backbone ?? "";
  const backbone = n.children[name];
  if (backbone === undefined) throw new Error(`kind '${n.kind}': no backbone child '${name}'`);
  return lmHeadForward(n, forward(backbone, ids, ctx), ctx);
};

/**
 * A causal-LM root kind (GPT-2's `GPT2LMHeadModel`, `LlamaForCausalLM`).
 *
 * @example
 *   const gpt2Kind = causalLmKind("gpt2", "GPT2LMHeadModel")
 */
export const causalLmKind = (kind: string, what: string): KindDef => ({
  kind,
  doc: `${what}: backbone, then lm_head (tied to the input embedding unless an lm_head child exists)`,
  forward: causalLmForward,
});
