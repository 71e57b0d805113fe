/** Building GPT-2 trees with HF names, from fresh init or a checkpoint. */
import { node, type Node } from "../../tree/node.js";
import { conv1dAt, embeddingAt, join, layerNormAt, linearAt, randomInit, type ParamSource } from "../common/source.js";
import { moduleList } from "../common/stack.js";
import { backbonePrefix, taskRoot, type BuildOptions } from "../tasks/root.js";
import type { Gpt2Config } from "./config.js";
import type { Gpt2Meta } from "./kinds.js";

const metaOf = (c: Gpt2Config): Gpt2Meta => ({
  numHeads: c.nHead,
  headDim: c.nEmbd / c.nHead,
  maxPositions: c.nPositions,
  embdPdrop: c.embdPdrop,
  residPdrop: c.residPdrop,
  attnPdrop: c.attnPdrop,
  activation: c.activationFunction,
  scaleAttnWeights: c.scaleAttnWeights,
  scaleAttnByInverseLayerIdx: c.scaleAttnByInverseLayerIdx,
});

/**
 * A GPT-2 block at `path` (`transformer.h.3`). As transformers does, the
 * output projections get std / √(2·n_layer).
 *
 * @example
 *   const block = gpt2Block(cfg, randomInit(0), "transformer.h.0")
 */
export const gpt2Block = (c: Gpt2Config, src: ParamSource, path: string): Node => {
  const m = metaOf(c) as unknown as Record<string, unknown>;
  const std = c.initializerRange;
  const projStd = std / Math.sqrt(2 * c.nLayer);
  const d = c.nEmbd;
  return node("gpt2Block", {
    children: {
      ln_1: layerNormAt(src, join(path, "ln_1"), d, c.layerNormEpsilon),
      attn: node("gpt2Attention", {
        children: {
          c_attn: conv1dAt(src, join(path, "attn.c_attn"), d, 3 * d, std),
          c_proj: conv1dAt(src, join(path, "attn.c_proj"), d, d, projStd),
        },
        meta: m,
      }),
      ln_2: layerNormAt(src, join(path, "ln_2"), d, c.layerNormEpsilon),
      mlp: node("gpt2Mlp", {
        children: {
          c_fc: conv1dAt(src, join(path, "mlp.c_fc"), d, c.nInner, std),
          c_proj: conv1dAt(src, join(path, "mlp.c_proj"), c.nInner, d, projStd),
        },
        meta: m,
      }),
    },
  });
};

/**
 * `GPT2Model` at `prefix` (`transformer`, or "" for a bare backbone).
 *
 * @example
 *   const transformer = gpt2Backbone(cfg, randomInit(0), "transformer")
 */
export const gpt2Backbone = (c: Gpt2Config, src: ParamSource, prefix: string): Node =>
  node("gpt2Model", {
    children: {
      wte: embeddingAt(src, join(prefix, "wte"), c.vocabSize, c.nEmbd, { std: c.initializerRange }),
      wpe: embeddingAt(src, join(prefix, "wpe"), c.nPositions, c.nEmbd, { std: c.initializerRange }),
      h: moduleList(c.nLayer, (i) => gpt2Block(c, src, join(prefix, "h", String(i)))),
      ln_f: layerNormAt(src, join(prefix, "ln_f"), c.nEmbd, c.layerNormEpsilon),
    },
    meta: metaOf(c) as unknown as Record<string, unknown>,
  });

/**
 * A GPT-2 model for a task: `GPT2LMHeadModel` (default), `GPT2ForSequenceClassification`
 * (`score`), `GPT2ForTokenClassification` (`classifier`) or `GPT2Model`.
 *
 * @example
 *   const cfg = unwrap(decodeGpt2Config({ n_embd: 32, n_layer: 2, n_head: 4, vocab_size: 50, n_positions: 16 }))
 *   const model = buildGpt2(cfg, { seed: 0 })           // kind "gpt2", lm_head tied to transformer.wte
 *   const logits = apply(model, ids)                    // [B, T, 50]
 */
export const buildGpt2 = (c: Gpt2Config, o: BuildOptions = {}): Node => {
  const task = o.task ?? "CAUSAL_LM";
  const src = o.source ?? randomInit(o.seed ?? 0);
  const prefix = backbonePrefix(task, "transformer");
  const std = c.initializerRange;
  const headDim = c.nEmbd / c.nHead;
  return taskRoot({
    task,
    backbone: gpt2Backbone(c, src, prefix),
    backboneName: prefix,
    meta: {
      modelType: "gpt2",
      config: c.raw,
      inputEmbeddings: join(prefix, "wte"),
      dims: { numLayers: c.nLayer, numAttentionHeads: c.nHead, numKeyValueHeads: c.nHead, hiddenSize: c.nEmbd, headDim, vocabSize: c.vocabSize },
    },
    causalLm: { kind: "gpt2", tied: c.tieWordEmbeddings, lmHead: () => linearAt(src, "lm_head", c.nEmbd, c.vocabSize, { bias: false, std }) },
    seqCls: {
      name: "score",
      head: () => linearAt(src, "score", c.nEmbd, c.numLabels, { bias: false, std }),
      pooling: { _tag: "last", padTokenId: c.padTokenId },
    },
    tokenCls: {
      name: "classifier",
      head: () => linearAt(src, "classifier", c.nEmbd, c.numLabels, { bias: true, std }),
      dropout: (c.raw["classifier_dropout"] as number | undefined) ?? 0.1,
    },
  });
};
