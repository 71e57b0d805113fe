import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import {
  adamw,
  apply,
  crossEntropy,
  disposeTree,
  fromLayers,
  inject,
  lora,
  loraConfig,
  partition,
  sgd,
  train,
  type Node,
} from "../../src/index.js";

const spec = [
  { name: "lin0", op: "linear", in_features: 4, out_features: 8 },
  { name: "relu", op: "relu" },
  { name: "lin1", op: "linear", in_features: 8, out_features: 3 },
];

const data = () => {
  const x = tf.randomNormal([32, 4], 0, 1, "float32", 5);
  const y = tf.tidy(() => tf.cast(tf.argMax(tf.matMul(x, tf.randomNormal([4, 3], 0, 1, "float32", 6)), -1), "int32"));
  return { x, y };
};

const loss = (m: Node, b: { x: tf.Tensor; y: tf.Tensor }) => crossEntropy(apply(m, b.x, { training: true }), b.y) as tf.Scalar;

function* repeat<B>(b: B): Generator<B> {
  for (;;) yield b;
}

describe("train", () => {
  it("moves only trainable leaves, lowers the loss, and leaks nothing over many steps", async () => {
    const before = tf.memory().numTensors;
    const base = fromLayers(spec, 1);
    const adapted = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin0"] }));
    const b = data();
    const r = await train(adapted, repeat(b), { optimizer: adamw({ lr: 1e-2 }), loss, steps: 300, onProgress: false });
    expect(r.stoppedBy).toBe("steps");
    expect(r.losses).toHaveLength(300);
    expect(r.losses[299] as number).toBeLessThan((r.losses[0] as number) * 0.8);
    const p0 = partition(adapted);
    const p1 = partition(r.model);
    // frozen tensors are the very same objects; trainable ones are new
    for (const [k, t] of Object.entries(p0.frozen)) expect(p1.frozen[k]).toBe(t);
    for (const [k, t] of Object.entries(p0.trainable)) expect(p1.trainable[k]).not.toBe(t);
    // the input tree is intact (its trainable tensors were not disposed)
    for (const t of Object.values(p0.trainable)) expect(t.isDisposed).toBe(false);
    for (const t of Object.values(p1.trainable)) t.dispose();
    disposeTree(adapted);
    tf.dispose([b.x, b.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("gradient accumulation over k identical micro-batches equals one step on that batch", async () => {
    const before = tf.memory().numTensors;
    const base = fromLayers(spec, 2);
    const adapted = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin0", "lin1"], initLoraWeights: false }));
    const b = data();
    const one = await train(adapted, repeat(b), { optimizer: sgd({ lr: 0.1 }), loss, steps: 1, onProgress: false });
    const acc = await train(adapted, repeat(b), { optimizer: sgd({ lr: 0.1 }), loss, steps: 1, gradientAccumulation: 3, onProgress: false });
    const t1 = partition(one.model).trainable;
    const t3 = partition(acc.model).trainable;
    for (const k of Object.keys(t1)) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(t1[k] as tf.Tensor, t3[k] as tf.Tensor))).dataSync()[0] as number);
      expect(d).toBeLessThan(1e-6);
    }
    for (const t of [...Object.values(t1), ...Object.values(t3)]) t.dispose();
    disposeTree(adapted);
    tf.dispose([b.x, b.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("stops early when the evaluation stops improving, and stops when data runs out", async () => {
    const before = tf.memory().numTensors;
    const adapted = inject(fromLayers(spec, 3), lora, loraConfig({ r: 2, targetModules: ["lin0"] }));
    const b = data();
    let calls = 0;
    const r = await train(adapted, repeat(b), {
      optimizer: adamw({ lr: 1e-3 }),
      loss,
      steps: 100,
      evaluate: { every: 2, fn: () => (calls++ === 0 ? 1 : 2) }, // best at the first evaluation, never again
      earlyStop: { patience: 3 },
      onProgress: false,
    });
    expect(r.stoppedBy).toBe("earlyStop");
    expect(r.losses).toHaveLength(8); // evaluations at steps 2 (best), 4, 6, 8 (third without improvement)
    for (const t of Object.values(partition(r.model).trainable)) t.dispose();
    const finite = await train(adapted, [b, b, b], { optimizer: adamw({ lr: 1e-3 }), loss, onProgress: false });
    expect(finite.stoppedBy).toBe("data");
    expect(finite.losses).toHaveLength(3);
    for (const t of Object.values(partition(finite.model).trainable)) t.dispose();
    disposeTree(adapted);
    tf.dispose([b.x, b.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a tree without trainable params", async () => {
    const base = fromLayers(spec, 4);
    await expect(train(base, [], { optimizer: adamw({ lr: 1e-3 }), loss, onProgress: false })).rejects.toThrow(/no trainable params/);
    disposeTree(base);
  });
});
