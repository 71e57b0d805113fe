/** Task heads (PEFT task types), their losses, and PEFT's default target modules. */
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy, mse, type CrossEntropyOptions } from "../../train/loss.js";

export * from "./kinds.js";
export * from "./root.js";
export * from "./targets.js";
export { causalLmLoss, crossEntropy } from "../../train/loss.js";

/**
 * The loss of a `SEQ_CLS` head as transformers picks it: mean squared error
 * for one label (regression, float labels [B]), else cross-entropy over int32
 * labels [B].
 *
 * @example
 *   const loss = sequenceClassificationLoss(apply(clf, ids), labels)
 */
export const sequenceClassificationLoss = (logits: tf.Tensor, labels: tf.Tensor): tf.Tensor =>
  logits.shape[logits.rank - 1] === 1 ? tf.tidy(() => mse(tf.reshape(logits, [-1]), tf.cast(labels, "float32"))) : crossEntropy(logits, labels);

/**
 * The loss of a `TOKEN_CLS` head: cross-entropy per token, labels -100 ignored.
 *
 * @example
 *   const loss = tokenClassificationLoss(apply(tagger, ids), labels)   // labels int32 [B, T]
 */
export const tokenClassificationLoss = (logits: tf.Tensor, labels: tf.Tensor, options: CrossEntropyOptions = {}): tf.Tensor =>
  crossEntropy(logits, labels, options);
