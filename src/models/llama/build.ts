/** Building LLaMA-family trees with HF names, from fresh init or a checkpoint. */
import { node, type Node } from "../../tree/node.js";
import { embeddingAt, join, linearAt, randomInit, rmsNormAt, type ParamSource } from "../common/source.js";
import { moduleList } from "../common/stack.js";
import { backbonePrefix, taskRoot, type BuildOptions } from "../tasks/root.js";
import type { LlamaConfig } from "./config.js";
import type { LlamaAttentionMeta, LlamaModelMeta } from "./kinds.js";
import { ropeInvFreq } from "./rope.js";

/**
 * A decoder layer at `path` (`model.layers.3`) for layer index `i`.
 *
 * @example
 *   const layer = llamaBlock(cfg, randomInit(0), "model.layers.0", 0)
 */
export const llamaBlock = (c: LlamaConfig, src: ParamSource, path: string, i: number): Node => {
  const std = c.initializerRange;
  const d = c.hiddenSize;
  const qDim = c.numAttentionHeads * c.headDim;
  const kvDim = c.numKeyValueHeads * c.headDim;
  const window = c.slidingWindows[i];
  const attnMeta: LlamaAttentionMeta = {
    numHeads: c.numAttentionHeads,
    numKeyValueHeads: c.numKeyValueHeads,
    headDim: c.headDim,
    attentionDropout: c.attentionDropout,
    ...(window === undefined ? {} : { slidingWindow: window }),
  };
  const lin = (name: string, inF: number, outF: number, bias: boolean): Node => linearAt(src, join(path, name), inF, outF, { bias, std });
  return node("llamaBlock", {
    children: {
      input_layernorm: rmsNormAt(src, join(path, "input_layernorm"), d, c.rmsNormEps),
      self_attn: node("llamaAttention", {
        children: {
          q_proj: lin("self_attn.q_proj", d, qDim, c.qkvBias),
          k_proj: lin("self_attn.k_proj", d, kvDim, c.qkvBias),
          v_proj: lin("self_attn.v_proj", d, kvDim, c.qkvBias),
          o_proj: lin("self_attn.o_proj", qDim, d, c.oBias),
        },
        meta: attnMeta as unknown as Record<string, unknown>,
      }),
      post_attention_layernorm: rmsNormAt(src, join(path, "post_attention_layernorm"), d, c.rmsNormEps),
      mlp: node("llamaMlp", {
        children: {
          gate_proj: lin("mlp.gate_proj", d, c.intermediateSize, c.mlpBias),
          up_proj: lin("mlp.up_proj", d, c.intermediateSize, c.mlpBias),
          down_proj: lin("mlp.down_proj", c.intermediateSize, d, c.mlpBias),
        },
        meta: { activation: c.hiddenAct },
      }),
    },
  });
};

/**
 * `LlamaModel` at `prefix` (`model`, or "" for a bare backbone).
 *
 * @example
 *   const model = llamaBackbone(cfg, randomInit(0), "model")
 */
export const llamaBackbone = (c: LlamaConfig, src: ParamSource, prefix: string): Node => {
  const meta: LlamaModelMeta = {
    invFreq: [...ropeInvFreq(c.headDim, c.ropeTheta, c.ropeScaling)],
    slidingWindows: [...new Set(c.slidingWindows.filter((w): w is number => w !== undefined))],
  };
  return node("llamaModel", {
    children: {
      embed_tokens: embeddingAt(src, join(prefix, "embed_tokens"), c.vocabSize, c.hiddenSize, {
        std: c.initializerRange,
        paddingIdx: c.padTokenId,
      }),
      layers: moduleList(c.numHiddenLayers, (i) => llamaBlock(c, src, join(prefix, "layers", String(i)), i)),
      norm: rmsNormAt(src, join(prefix, "norm"), c.hiddenSize, c.rmsNormEps),
    },
    meta: meta as unknown as Record<string, unknown>,
  });
};

/**
 * A Llama / Mistral / Qwen2 model for a task: `…ForCausalLM` (default),
 * `…ForSequenceClassification` (`score`), `…ForTokenClassification`
 * (`score`) or the bare `…Model`.
 *
 * @example
 *   const cfg = unwrap(decodeLlamaConfig({ hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *                                         num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100 }))
 *   const model = buildLlama(cfg, { seed: 0 })   // kind "llama": model.layers.N.self_attn.q_proj …, lm_head
 */
export const buildLlama = (c: LlamaConfig, o: BuildOptions = {}): Node => {
  const task = o.task ?? "CAUSAL_LM";
  const src = o.source ?? randomInit(o.seed ?? 0);
  const prefix = backbonePrefix(task, "model");
  const std = c.initializerRange;
  return taskRoot({
    task,
    backbone: llamaBackbone(c, src, prefix),
    backboneName: prefix,
    meta: {
      modelType: c.modelType,
      config: c.raw,
      inputEmbeddings: join(prefix, "embed_tokens"),
      dims: {
        numLayers: c.numHiddenLayers,
        numAttentionHeads: c.numAttentionHeads,
        numKeyValueHeads: c.numKeyValueHeads,
        hiddenSize: c.hiddenSize,
        headDim: c.headDim,
        vocabSize: c.vocabSize,
      },
    },
    causalLm: { kind: "llama", tied: c.tieWordEmbeddings, lmHead: () => linearAt(src, "lm_head", c.hiddenSize, c.vocabSize, { bias: false, std }) },
    seqCls: {
      name: "score",
      head: () => linearAt(src, "score", c.hiddenSize, c.numLabels, { bias: false, std }),
      pooling: { _tag: "last", padTokenId: c.padTokenId },
    },
    tokenCls: {
      name: "score",
      head: () => linearAt(src, "score", c.hiddenSize, c.numLabels, { bias: true, std }),
      dropout: (c.raw["classifier_dropout"] as number | undefined) ?? 0.1,
    },
  });
};
