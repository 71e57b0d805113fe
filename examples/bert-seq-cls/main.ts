/**
 * Sequence classification with BERT + LoRA, PEFT's way (task type SEQ_CLS).
 *
 * 1. A word-level WordPiece tokenizer (an HF `tokenizer.json`) and a tiny
 *    `BertModel`, pretrained as BERT is, by masked-word prediction on
 *    unlabelled reviews, and saved as a Hugging Face folder: our stand-in
 *    for `bert-base-uncased`.
 * 2. Load it as `BertForSequenceClassification` (`loadModel(dir, { task:
 *    "SEQ_CLS" })`): the classifier is new (transformers' "newly
 *    initialized" warning), so accuracy on the sentiment task is chance.
 * 3. LoRA with `targetModules: null`: PEFT's default for bert, `query` and
 *    `value`, comes from the model. As PEFT does for SEQ_CLS, the classifier
 *    goes to `modules_to_save` (a trainable copy; the original stays).
 * 4. Train adapter + classifier copy: accuracy rises to ~100% while the
 *    base (and the original classifier) stay bit-for-bit the same; the
 *    adapter saves in PEFT's format and reloads to the same logits. No
 *    tensor is leaked.
 *
 * Run: npm run example:bert   (or npx tsx examples/bert-seq-cls/main.ts)
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import {
  adamw,
  apply,
  buildFromConfig,
  crossEntropy,
  disposeReplaced,
  disposeTree,
  formatTrainableParameters,
  initBackend,
  inject,
  isTunerLayer,
  linearWithWarmup,
  loadAdapter,
  loadModelWithReport,
  loadTensors,
  lora,
  loraConfig,
  markTrainable,
  nodes,
  Path,
  peftState,
  saveAdapter,
  saveModel,
  sequenceClassificationLoss,
  toStateDict,
  tokenizerFromJson,
  train,
  trainableParameters,
  unload,
  type Node,
  type Progress,
  orThrow,
} from "../../src/index.js";
import { batchOf, encode, maskedBatches, sentences, shuffledBatches, tokenizerConfigJson, wordPieceJson, type Batch, type MaskedBatch } from "./data.js";

export interface RunOptions {
  /** Masked-LM pretraining steps of the base (default 300). */
  readonly pretrainSteps?: number;
  /** Adapter training steps on the labelled task (default 200). */
  readonly steps?: number;
  /** Sentences per batch (default 32). */
  readonly batchSize?: number;
  /** Training / test sentences (default 2000 / 500). */
  readonly trainSize?: number;
  readonly testSize?: number;
  /** Print nothing. */
  readonly quiet?: boolean;
}

export interface RunResult {
  readonly trainable: number;
  readonly total: number;
  /** Keys the SEQ_CLS load initialised fresh. */
  readonly initialized: ReadonlyArray<string>;
  /** Modules LoRA was injected into. */
  readonly loraModules: ReadonlyArray<string>;
  readonly targetModules: unknown;
  readonly modulesToSave: unknown;
  readonly mlmLosses: ReadonlyArray<number>;
  readonly accuracyBefore: number;
  readonly accuracyAfter: number;
  readonly losses: ReadonlyArray<number>;
  /** Backbone and original classifier: same tensors, same bytes after training. */
  readonly baseUntouched: boolean;
  /** Keys in adapter_model.safetensors. */
  readonly savedKeys: ReadonlyArray<string>;
  /** max |logits(reloaded) − logits(trained)| on the test set. */
  readonly reloadMaxDiff: number;
  readonly leaked: number;
}


const run1 = (model: Node, b: { readonly ids: tf.Tensor; readonly mask: tf.Tensor }, training = false): tf.Tensor =>
  apply(model, b.ids, { training, side: { attentionMask: b.mask } });

const accuracy = (model: Node, b: Batch): number =>
  tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(run1(model, b), -1), b.labels), "float32")).dataSync()[0] as number);

/**
 * Masked-LM loss of a `BertModel`: hidden states scored against the word
 * embeddings (BERT's decoder is tied to them; its extra transform layer is
 * left out here: this is only how the example gets a pretrained base).
 */
const mlmLoss = (bert: Node, b: MaskedBatch): tf.Scalar =>
  tf.tidy(() => {
    const h = run1(bert, b, true);
    const [n, t, d] = h.shape as [number, number, number];
    const words = (bert.children["embeddings"]?.children["word_embeddings"]?.params["weight"] as tf.Tensor2D | undefined) ?? tf.zeros([1, d]);
    const logits = tf.reshape(tf.matMul(tf.reshape(h, [n * t, d]), words, false, true), [n, t, words.shape[0]]);
    return crossEntropy(logits, b.labels) as tf.Scalar;
  });

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

export const run = async (o: RunOptions = {}): Promise<RunResult> => {
  const log = o.quiet === true ? () => undefined : console.log;
  const started = performance.now();
  const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
  await initBackend({ quiet: o.quiet ?? false });
  const baseline = tf.memory().numTensors;
  const dir = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-ts-bert-"));
  const [baseDir, adapterDir] = [nodePath.join(dir, "tiny-bert"), nodePath.join(dir, "adapter")];

  // 1. Tokenizer, data, and a BertModel pretrained by masked-word prediction.
  const tok = tokenizerFromJson(wordPieceJson(), tokenizerConfigJson);
  const id = (t: string): number => tok.tokenToId(t) ?? 0;
  const [nTrain, nTest, batchSize] = [o.trainSize ?? 2000, o.testSize ?? 500, o.batchSize ?? 32];
  const train1 = sentences(nTrain, 1);
  const testExamples = sentences(nTest, 2);
  const test = batchOf(encode(tok, testExamples), testExamples.map((_, i) => i), id("[PAD]"));
  const ex = testExamples[0] as { text: string; label: number };
  log(`e.g. "${ex.text}" → label ${ex.label}, ids [${tok.encode(ex.text).join(", ")}]`);
  const config = {
    model_type: "bert",
    vocab_size: tok.tokenizer.get_vocab(true).size,
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 128,
    max_position_embeddings: 32,
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    pad_token_id: id("[PAD]"),
    num_labels: 2,
    id2label: { "0": "negative", "1": "positive" },
    label2id: { negative: 0, positive: 1 },
  };
  const preSteps = o.pretrainSteps ?? 300;
  const fresh = orThrow(buildFromConfig(config, { task: "FEATURE_EXTRACTION", seed: 0 }));
  log(`\n== 1. pretraining a BertModel (${config.num_hidden_layers} layers, d=${config.hidden_size}, ${config.vocab_size} words) by masked-word prediction`);
  let t0 = performance.now();
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(id);
  // The pooler is not on the masked-LM path (BERT trains it on next-sentence prediction): it stays as initialised.
  const pre = await train(markTrainable(fresh, (key) => !key.startsWith("pooler.")), maskedBatches(encode(tok, train1), batchSize, 3, { pad: id("[PAD]"), maskId: id("[MASK]"), specials, rate: 0.15 }), {
    optimizer: adamw({ lr: linearWithWarmup({ peak: 3e-3, warmupSteps: Math.min(20, preSteps), totalSteps: preSteps }), weightDecay: 0.01 }),
    loss: mlmLoss,
    steps: preSteps,
    maxGradNorm: 1,
    onProgress: (p: Progress) => {
      if (p.done !== true && p.step % Math.max(1, Math.floor(preSteps / 4)) === 0) log(`  step ${String(p.step).padStart(4)}/${preSteps}  masked-LM loss ${p.loss.toFixed(3)}`);
    },
  });
  disposeReplaced(fresh, pre.model);
  await saveModel(pre.model, baseDir);
  await fs.writeFile(nodePath.join(baseDir, "tokenizer.json"), JSON.stringify(wordPieceJson()));
  await fs.writeFile(nodePath.join(baseDir, "tokenizer_config.json"), JSON.stringify(tokenizerConfigJson));
  disposeTree(pre.model);
  log(`took ${seconds(t0)} s; saved ${(await fs.readdir(baseDir)).sort().join(", ")}`);

  // 2. The checkpoint as a sequence classifier: a new, untrained head.
  const { model, report: loaded } = await loadModelWithReport(baseDir, { task: "SEQ_CLS", seed: 0 });
  const accuracyBefore = accuracy(model, test);
  log(`\n== 2. loaded as BertForSequenceClassification; newly initialized: ${loaded.initialized.join(", ")}`);
  log(`test accuracy before training: ${pct(accuracyBefore)} (a fresh classifier: chance)`);

  // 3. LoRA on PEFT's default targets for bert; task SEQ_CLS puts the head in modules_to_save.
  const adapted = inject(
    model,
    lora,
    loraConfig({
      r: 8,
      loraAlpha: 16,
      loraDropout: 0,
      targetModules: null,
      taskType: "SEQ_CLS",
    }),
    { seed: 1 },
  );
  const resolved = peftState(adapted).adapters["default"]?.config;
  const loraModules = nodes(adapted)
    .filter(([, n]) => isTunerLayer(n))
    .map(([p]) => Path.toString(p));
  const report = trainableParameters(adapted);
  log(`\n== 3. LoRA r=8, target_modules null → ${JSON.stringify(resolved?.targetModules)} (PEFT's default for bert):`);
  for (const m of loraModules) log(`  ${m}`);
  log(`modules_to_save: ${JSON.stringify(resolved?.modulesToSave)} (PEFT's SEQ_CLS heads; BERT's is 'classifier')`);
  log(formatTrainableParameters(report));

  const steps = o.steps ?? 200;
  const before = Object.entries(toStateDict(model)).map(([k, t]) => [k, t, Float32Array.from(t.dataSync() as Float32Array)] as const);
  t0 = performance.now();
  const tuned = await train(adapted, shuffledBatches(encode(tok, train1), batchSize, 4, id("[PAD]")), {
    optimizer: adamw({ lr: linearWithWarmup({ peak: 5e-3, warmupSteps: Math.min(10, steps), totalSteps: steps }), weightDecay: 0.01 }),
    loss: (m, b) => sequenceClassificationLoss(run1(m, b, true), b.labels) as tf.Scalar,
    steps,
    maxGradNorm: 1,
    evaluate: { every: Math.max(1, Math.floor(steps / 5)), fn: (m) => 1 - accuracy(m, test) },
    onProgress: (p: Progress) => {
      if (p.done !== true && p.evaluation !== undefined) log(`  step ${String(p.step).padStart(4)}/${steps}  loss ${p.loss.toFixed(4)}  test accuracy ${pct(1 - p.evaluation)}`);
    },
  });
  const accuracyAfter = accuracy(tuned.model, test);
  log(`took ${seconds(t0)} s; test accuracy: ${pct(accuracyBefore)} → ${pct(accuracyAfter)}`);
  const after = toStateDict(unload(tuned.model));
  const baseUntouched = before.every(([k, t, data]) => after[k] === t && t.dataSync().every((v, i) => v === data[i]));
  log(`base model and original classifier after training: ${baseUntouched ? "identical (same tensors, same bytes)" : "CHANGED"}`);

  // 4. PEFT format: save, list the keys, load into a fresh load of the base, compare.
  await saveAdapter(tuned.model, adapterDir);
  const saved = await loadTensors(nodePath.join(adapterDir, "adapter_model.safetensors"));
  const savedKeys = Object.keys(saved).sort();
  log(`\n== 4. saved ${(await fs.readdir(adapterDir)).sort().join(" + ")} (${savedKeys.length} tensors):`);
  for (const k of savedKeys) log(`  ${k}  [${saved[k]?.shape.join(", ")}]`);
  tf.dispose(Object.values(saved));
  // A new load of the checkpoint draws the same fresh head (same seed); the adapter's copy replaces it anyway.
  const { model: base2 } = await loadModelWithReport(baseDir, { task: "SEQ_CLS", seed: 0 });
  const reloaded = await loadAdapter(base2, adapterDir);
  const reloadMaxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(run1(reloaded, test), run1(tuned.model, test)))).dataSync()[0] as number);
  log(`base + adapter loaded from disk: test accuracy ${pct(accuracy(reloaded, test))}, max |Δ logit| vs trained = ${reloadMaxDiff}`);
  await fs.rm(dir, { recursive: true, force: true });

  for (const t of [reloaded, base2, tuned.model, adapted, model]) disposeTree(t);
  tf.dispose([test.ids, test.mask, test.labels]);
  const leaked = tf.memory().numTensors - baseline;
  log(`\ntensors leaked: ${leaked}; took ${seconds(started)} s`);
  return {
    trainable: report.trainable,
    total: report.total,
    initialized: loaded.initialized,
    loraModules,
    targetModules: resolved?.targetModules,
    modulesToSave: resolved?.modulesToSave,
    mlmLosses: pre.losses,
    accuracyBefore,
    accuracyAfter,
    losses: tuned.losses,
    baseUntouched,
    savedKeys,
    reloadMaxDiff,
    leaked,
  };
};

if (process.argv[1]?.endsWith("main.ts") && process.argv[1].includes("bert-seq-cls")) {
  run().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
