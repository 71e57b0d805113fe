/**
 * LoRA on a multilayer perceptron, end to end (PEFT's MLP example in spirit).
 *
 * 1. Pretrain a small MLP on task A (labels from one hidden direction), freeze it.
 * 2. Task B labels come from another direction: the frozen model does poorly.
 * 3. Inject LoRA (r=8) into the hidden layers, with the head in modules_to_save;
 *    train only the adapter; the loss falls and accuracy on B rises.
 * 4. Save in PEFT's format, reload into the base: identical predictions.
 * 5. Merge and unload: the same predictions at the cost of the base model.
 *
 * Run: npm run example
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import {
  adamw,
  apply,
  disposeReplaced,
  disposeTree,
  formatTrainableParameters,
  fromLayers,
  initBackend,
  inject,
  loadAdapter,
  lora,
  loraConfig,
  markTrainable,
  mergeAndUnload,
  orThrow,
  saveAdapter,
  show,
  train,
  trainableParameters,
  type Node,
} from "../../src/index.js";

const FEATURES = 20;
const HIDDEN = 64;

/** A seeded PRNG (mulberry32) and a standard normal from it. */
const rng = (seed: number) => {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
};

/** n points in R^20; the label says on which side of a quadratic surface along `dir` a point lies. */
const dataset = (n: number, dir: ReadonlyArray<number>, seed: number): { x: tf.Tensor2D; y: tf.Tensor1D } => {
  const r = rng(seed);
  const xs = new Float32Array(n * FEATURES);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let proj = 0;
    for (let j = 0; j < FEATURES; j++) {
      const v = r.normal();
      xs[i * FEATURES + j] = v;
      proj += v * (dir[j] as number);
    }
    ys[i] = proj * proj - 0.5 + 0.3 * (xs[i * FEATURES] as number) > 0 ? 1 : 0;
  }
  return { x: tf.tensor2d(xs, [n, FEATURES]), y: tf.tensor1d(ys, "int32") };
};

const unit = (seed: number): number[] => {
  const r = rng(seed);
  const v = Array.from({ length: FEATURES }, () => r.normal());
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
};

const nll = (logProbs: tf.Tensor, y: tf.Tensor): tf.Scalar =>
  tf.neg(tf.mean(tf.sum(tf.mul(logProbs, tf.oneHot(y as tf.Tensor1D, 2)), -1))) as tf.Scalar;

const accuracy = (model: Node, x: tf.Tensor, y: tf.Tensor): number =>
  tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(apply(model, x), -1), y), "float32")).dataSync()[0] as number);

/** Endless shuffled mini-batches. */
function* batches(x: tf.Tensor2D, y: tf.Tensor1D, size: number, seed: number): Generator<{ x: tf.Tensor; y: tf.Tensor }> {
  const n = x.shape[0];
  const r = rng(seed);
  for (;;) {
    const idx = tf.tensor1d(Array.from({ length: size }, () => Math.floor(r.uniform() * n)), "int32");
    const b = { x: tf.gather(x, idx), y: tf.gather(y, idx) };
    idx.dispose();
    try {
      yield b;
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }
}

const mlpSpec = [
  { name: "lin0", op: "linear", in_features: FEATURES, out_features: HIDDEN },
  { name: "relu", op: "relu" },
  { name: "lin1", op: "linear", in_features: HIDDEN, out_features: HIDDEN },
  { name: "relu", op: "relu" },
  { name: "lin2", op: "linear", in_features: HIDDEN, out_features: 2 },
  { name: "sm", op: "log_softmax" },
];

const main = async (): Promise<void> => {
  const started = performance.now();
  await initBackend();
  const baseline = tf.memory().numTensors;
  const taskA = { train: dataset(2048, unit(1), 11), test: dataset(512, unit(1), 12) };
  const taskB = { train: dataset(2048, unit(2), 21), test: dataset(512, unit(2), 22) };
  const loss = (m: Node, b: { x: tf.Tensor; y: tf.Tensor }) => nll(apply(m, b.x, { training: true }), b.y);
  const quiet = {
    onProgress: (p: { step: number; loss: number; done?: boolean }) =>
      p.step % 100 === 0 && p.done !== true && console.log(`  step ${p.step}  loss ${p.loss.toFixed(4)}`),
  };

  // 1. Pretrain on task A (every parameter trainable), then freeze.
  const init = fromLayers(mlpSpec, 0);
  console.log("== pretraining the MLP on task A (full fine-tuning)");
  const pre = await train(markTrainable(init, () => true), batches(taskA.train.x, taskA.train.y, 64, 1), {
    optimizer: adamw({ lr: 3e-3, weightDecay: 0 }),
    loss,
    steps: 400,
    ...quiet,
  });
  disposeReplaced(init, pre.model);
  const base = markTrainable(pre.model, () => false, false);
  console.log(`task A accuracy: ${(100 * accuracy(base, taskA.test.x, taskA.test.y)).toFixed(1)}%`);
  console.log(`task B accuracy before LoRA: ${(100 * accuracy(base, taskB.test.x, taskB.test.y)).toFixed(1)}%`);

  // 2. LoRA on the hidden layers; the head is trained in full (modules_to_save).
  const config = loraConfig({ r: 8, loraAlpha: 16, targetModules: ["lin0", "lin1"], modulesToSave: ["lin2"] });
  const adapted = inject(base, lora, config, { seed: 7 });
  console.log("\n== the adapted model");
  console.log(show(adapted, { meta: false }));
  console.log(formatTrainableParameters(trainableParameters(adapted)));

  console.log("\n== training the adapter on task B");
  const tuned = await train(adapted, batches(taskB.train.x, taskB.train.y, 64, 2), {
    optimizer: adamw({ lr: 3e-3 }),
    loss,
    steps: 400,
    ...quiet,
  });
  const first = tuned.losses.slice(0, 20).reduce((a, b) => a + b, 0) / 20;
  const last = tuned.losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
  console.log(`loss: ${first.toFixed(4)} (first 20 steps) -> ${last.toFixed(4)} (last 20 steps)`);
  console.log(`task B accuracy after LoRA: ${(100 * accuracy(tuned.model, taskB.test.x, taskB.test.y)).toFixed(1)}%`);

  // 3. Save in PEFT's format and reload into the frozen base.
  const dir = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-ts-mlp-"));
  await saveAdapter(tuned.model, dir);
  console.log(`\n== saved ${(await fs.readdir(dir)).join(", ")} to ${dir}`);
  const reloaded = await loadAdapter(base, dir);
  const [p1, p2] = [apply(tuned.model, taskB.test.x), apply(reloaded, taskB.test.x)];
  const reloadDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(p1, p2))).dataSync()[0] as number);
  console.log(`reloaded vs trained: max |Δ log-prob| = ${reloadDiff}`);

  // 4. Merge and unload: a plain MLP with the adapter folded in.
  const merged = orThrow(mergeAndUnload(reloaded));
  const p3 = apply(merged, taskB.test.x);
  const mergeDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(p2, p3))).dataSync()[0] as number);
  const sameClass = tf.tidy(() => tf.all(tf.equal(tf.argMax(p2, -1), tf.argMax(p3, -1))).dataSync()[0] === 1);
  console.log(`merged vs adapter: max |Δ log-prob| = ${mergeDiff.toExponential(2)}, identical predictions: ${sameClass}`);

  tf.dispose([p1, p2, p3]);
  for (const t of [merged, reloaded, tuned.model, adapted, base]) disposeTree(t);
  tf.dispose([taskA.train.x, taskA.train.y, taskA.test.x, taskA.test.y, taskB.train.x, taskB.train.y, taskB.test.x, taskB.test.y]);
  await fs.rm(dir, { recursive: true, force: true });
  console.log(`\ntensors left: ${tf.memory().numTensors - baseline}; took ${((performance.now() - started) / 1000).toFixed(1)} s`);
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
