/** Building BERT / RoBERTa trees with HF names, from fresh init or a checkpoint. */
import { node, type Node } from "../../tree/node.js";
import { embeddingAt, join, layerNormAt, linearAt, randomInit, type ParamSource } from "../common/source.js";
import { moduleList } from "../common/stack.js";
import { backbonePrefix, taskRoot, type BuildOptions } from "../tasks/root.js";
import type { BertConfig } from "./config.js";
import type { BertMeta } from "./kinds.js";

const metaOf = (c: BertConfig): Record<string, unknown> =>
  ({
    numHeads: c.numAttentionHeads,
    headDim: c.hiddenSize / c.numAttentionHeads,
    hiddenDropout: c.hiddenDropoutProb,
    attentionDropout: c.attentionProbsDropoutProb,
    activation: c.hiddenAct,
    robertaPositions: c.modelType === "roberta",
    paddingIdx: c.padTokenId,
  }) satisfies BertMeta;

/**
 * An encoder layer at `path` (`bert.encoder.layer.3`).
 *
 * @example
 *   const layer = bertLayer(cfg, randomInit(0), "bert.encoder.layer.0")
 */
export const bertLayer = (c: BertConfig, src: ParamSource, path: string): Node => {
  const d = c.hiddenSize;
  const m = metaOf(c);
  const lin = (name: string, inF: number, outF: number): Node => linearAt(src, join(path, name), inF, outF, { bias: true, std: c.initializerRange });
  const residual = (at: string, inF: number): Node =>
    node("bertResidual", {
      children: { dense: lin(`${at}.dense`, inF, d), LayerNorm: layerNormAt(src, join(path, at, "LayerNorm"), d, c.layerNormEps) },
      meta: m,
    });
  return node("bertLayer", {
    children: {
      attention: node("bertAttention", {
        children: {
          self: node("bertSelfAttention", {
            children: { query: lin("attention.self.query", d, d), key: lin("attention.self.key", d, d), value: lin("attention.self.value", d, d) },
            meta: m,
          }),
          output: residual("attention.output", d),
        },
      }),
      intermediate: node("bertIntermediate", { children: { dense: lin("intermediate.dense", d, c.intermediateSize) }, meta: m }),
      output: residual("output", c.intermediateSize),
    },
  });
};

/**
 * `BertModel` / `RobertaModel` at `prefix`, with or without the pooler.
 *
 * @example
 *   const bert = bertBackbone(cfg, randomInit(0), "bert", true)   // with bert.pooler
 */
export const bertBackbone = (c: BertConfig, src: ParamSource, prefix: string, pooler: boolean): Node => {
  const std = c.initializerRange;
  const d = c.hiddenSize;
  const roberta = c.modelType === "roberta";
  const emb = join(prefix, "embeddings");
  return node("bertModel", {
    children: {
      embeddings: node("bertEmbeddings", {
        children: {
          word_embeddings: embeddingAt(src, join(emb, "word_embeddings"), c.vocabSize, d, { std, paddingIdx: c.padTokenId }),
          position_embeddings: embeddingAt(src, join(emb, "position_embeddings"), c.maxPositionEmbeddings, d, {
            std,
            paddingIdx: roberta ? c.padTokenId : undefined,
          }),
          token_type_embeddings: embeddingAt(src, join(emb, "token_type_embeddings"), c.typeVocabSize, d, { std }),
          LayerNorm: layerNormAt(src, join(emb, "LayerNorm"), d, c.layerNormEps),
        },
        meta: metaOf(c),
      }),
      encoder: node("bertEncoder", {
        children: { layer: moduleList(c.numHiddenLayers, (i) => bertLayer(c, src, join(prefix, "encoder.layer", String(i)))) },
      }),
      ...(pooler
        ? { pooler: node("bertPooler", { children: { dense: linearAt(src, join(prefix, "pooler.dense"), d, d, { bias: true, std }) } }) }
        : {}),
    },
    meta: metaOf(c),
  });
};

/**
 * A BERT / RoBERTa model for a task: the bare `…Model` (default, with pooler),
 * `…ForSequenceClassification` (`classifier`; BERT pools with its pooler,
 * RoBERTa's head takes the first token) or `…ForTokenClassification`.
 *
 * @example
 *   const cfg = unwrap(decodeBertConfig({ hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4,
 *                                        intermediate_size: 64, vocab_size: 100, num_labels: 3 }))
 *   const clf = buildBert(cfg, { task: "SEQ_CLS" })     // bert.encoder.layer.N.attention.self.query …, classifier
 *   apply(clf, ids, { side: { attentionMask } })        // [B, 3]
 */
export const buildBert = (c: BertConfig, o: BuildOptions = {}): Node => {
  const task = o.task ?? "FEATURE_EXTRACTION";
  const src = o.source ?? randomInit(o.seed ?? 0);
  const name = c.modelType;
  const prefix = backbonePrefix(task, name);
  const roberta = c.modelType === "roberta";
  const withPooler = task === "FEATURE_EXTRACTION" || (task === "SEQ_CLS" && !roberta);
  const std = c.initializerRange;
  const d = c.hiddenSize;
  const dropout = c.classifierDropout ?? c.hiddenDropoutProb;
  const classifier = (): Node => linearAt(src, "classifier", d, c.numLabels, { bias: true, std });
  return taskRoot({
    task,
    backbone: bertBackbone(c, src, prefix, withPooler),
    backboneName: prefix,
    meta: {
      modelType: c.modelType,
      config: c.raw,
      inputEmbeddings: join(prefix, "embeddings.word_embeddings"),
      dims: {
        numLayers: c.numHiddenLayers,
        numAttentionHeads: c.numAttentionHeads,
        numKeyValueHeads: c.numAttentionHeads,
        hiddenSize: d,
        headDim: d / c.numAttentionHeads,
        vocabSize: c.vocabSize,
      },
    },
    seqCls: roberta
      ? {
          name: "classifier",
          head: () =>
            node("robertaClassificationHead", {
              children: {
                dense: linearAt(src, "classifier.dense", d, d, { bias: true, std }),
                out_proj: linearAt(src, "classifier.out_proj", d, c.numLabels, { bias: true, std }),
              },
              meta: { dropout },
            }),
          pooling: { _tag: "head" },
        }
      : { name: "classifier", head: classifier, pooling: { _tag: "pooler" }, dropout },
    tokenCls: { name: "classifier", head: classifier, dropout },
  });
};
