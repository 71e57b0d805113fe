/**
 * The wasm backend, with our fill-ins and kernels, computes the forward and
 * backward passes of every op this library uses like the stock cpu backend —
 * the sweep that found the fill-ins of src/backend/fillins.ts, kept as a test.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { registeredFillins, withStockKernels } from "../../src/backend/index.js";
import { expectClose, noLeaks, on, seeded } from "./helpers.js";

type Case = () => tf.Tensor | tf.Tensor[];

const x34 = (): tf.Tensor => seeded([3, 4], 1);
const grad = (f: (x: tf.Tensor) => tf.Tensor, x: () => tf.Tensor): Case => () => {
  const v = x();
  return [f(v), tf.grad((t: tf.Tensor) => tf.sum(tf.square(f(t))))(v)];
};
const grads = (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: () => tf.Tensor[]): Case => () => {
  const v = xs();
  return [f(...v), ...tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.square(f(...ts))))(v)];
};
const ids = (v: number[], shape: number[]): tf.Tensor => tf.tensor(v, shape, "int32");
const geluTanh = (x: tf.Tensor): tf.Tensor =>
  tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));

const CASES: Record<string, Case> = {
  // products
  "matMul x·Wᵀ, batched x": grads((a, b) => tf.matMul(a as tf.Tensor, b as tf.Tensor, false, true), () => [seeded([2, 3, 4], 1), seeded([5, 4], 2)]),
  "matMul Aᵀ·B": grads((a, b) => tf.matMul(a as tf.Tensor, b as tf.Tensor, true, false), () => [seeded([4, 3], 1), seeded([4, 5], 2)]),
  "matMul batched both": grads((a, b) => tf.matMul(a as tf.Tensor, b as tf.Tensor, true, true), () => [seeded([2, 4, 3], 1), seeded([2, 5, 4], 2)]),
  "fused matMul + bias + relu": grads(
    (a, b, c) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c as tf.Tensor, activation: "relu", transposeB: true }),
    () => [seeded([3, 4], 1), seeded([5, 4], 2), seeded([5], 3)],
  ),
  einsum: () => tf.einsum("bij,bjk->bik", seeded([2, 3, 4], 1), seeded([2, 4, 5], 2)),
  // embeddings
  "gather rows (embedding) + grad": grad((w) => tf.gather(w, ids([0, 2, 2, 4, 1, 0], [2, 3])), () => seeded([5, 3], 1)),
  "gather axis 1 + grad": grad((w) => tf.gather(w, ids([0, 2, 2], [3]), 1), () => seeded([4, 3], 1)),
  unsortedSegmentSum: () => tf.unsortedSegmentSum(seeded([5, 3], 1), ids([0, 2, 2, 1, 0], [5]) as tf.Tensor1D, 4),
  "unsortedSegmentSum drops out-of-range ids": () => tf.unsortedSegmentSum(seeded([4, 3], 1), ids([0, -1, 2, 9], [4]) as tf.Tensor1D, 3),
  "unsortedSegmentSum int32": () => tf.unsortedSegmentSum(tf.tensor2d([1, 2, 3, 4], [2, 2], "int32"), ids([1, 1], [2]) as tf.Tensor1D, 2),
  // norms, reductions
  "mean/variance (layernorm) + grad": grad((x) => {
    const m = tf.moments(x, -1, true);
    return tf.mul(tf.sub(x, m.mean), tf.rsqrt(tf.add(m.variance, 1e-5)));
  }, () => seeded([2, 3, 4], 1)),
  "rmsnorm + grad": grad((x) => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), () => seeded([2, 3, 4], 1)),
  "mean over axes + grad": grad((x) => tf.mean(x, [0, 2]), () => seeded([2, 3, 4], 1)),
  "max + grad": grad((x) => tf.max(x, -1), x34),
  "logSumExp + grad": grad((x) => tf.logSumExp(x, -1), x34),
  // activations
  "softmax + grad": grad((x) => tf.softmax(x), () => seeded([2, 3, 4], 1)),
  "logSoftmax + grad": grad((x) => tf.logSoftmax(x), () => seeded([2, 3, 4], 1)),
  "softmax of large logits": () => [tf.softmax(tf.tensor1d([1000, 0, -1000])), tf.logSoftmax(tf.tensor1d([1000, 0, -1000]))],
  "gelu (tanh form) + grad": grad(geluTanh, x34),
  "gelu (erf form) + grad": grad((x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))), x34),
  "relu + grad": grad((x) => tf.relu(x), x34),
  "relu6 + grad": grad((x) => tf.relu6(tf.mul(x, 10)), x34),
  "leakyRelu + grad": grad((x) => tf.leakyRelu(x, 0.1), x34),
  "elu + grad": grad((x) => tf.elu(x), x34),
  "sigmoid / silu + grad": grad((x) => tf.mul(x, tf.sigmoid(x)), x34),
  "tanh + grad": grad((x) => tf.tanh(x), x34),
  "softplus + grad": grad((x) => tf.softplus(x), x34),
  // convolutions
  "conv2d NHWC same + grads": grads((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "same"), () => [seeded([2, 5, 5, 2], 1), seeded([3, 3, 2, 3], 2)]),
  "conv2d NHWC stride 2 + grads": grads((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, "same"), () => [seeded([2, 7, 6, 3], 1), seeded([3, 3, 3, 4], 2)]),
  "conv2d explicit padding + grads": grads(
    (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, [2, 1], [[0, 0], [1, 1], [2, 0], [0, 0]]),
    () => [seeded([2, 6, 7, 2], 1), seeded([3, 2, 2, 4], 2)],
  ),
  "conv2d NCHW (torch layout) + grads": grads(
    (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "same", "NCHW"),
    () => [seeded([2, 2, 5, 5], 1), seeded([3, 3, 2, 3], 2)],
  ),
  "conv2d NCHW stride 2 valid + grads": grads(
    (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, "valid", "NCHW"),
    () => [seeded([1, 3, 7, 7], 1), seeded([3, 3, 3, 2], 2)],
  ),
  "conv2d dilated (forward)": () => tf.conv2d(seeded([1, 7, 7, 2], 1) as tf.Tensor4D, seeded([3, 3, 2, 3], 2) as tf.Tensor4D, 1, "valid", "NHWC", 2),
  "conv1d + grads": grads((x, f) => tf.conv1d(x as tf.Tensor3D, f as tf.Tensor3D, 2, "valid"), () => [seeded([2, 9, 3], 1), seeded([3, 3, 4], 2)]),
  "depthwiseConv2d + grads": grads((x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "same"), () => [seeded([2, 5, 5, 2], 1), seeded([3, 3, 2, 2], 2)]),
  "fused conv2d NCHW + bias": () =>
    tf.fused.conv2d({ x: seeded([1, 2, 5, 5], 1) as tf.Tensor4D, filter: seeded([3, 3, 2, 3], 2) as tf.Tensor4D, strides: 1, pad: "same", dataFormat: "NCHW", bias: seeded([3], 3) }),
  "conv2dTranspose + grads": grads(
    (x, f) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [1, 4, 4, 2], 1, "same"),
    () => [seeded([1, 4, 4, 3], 1), seeded([3, 3, 2, 3], 2)],
  ),
  "maxPool / avgPool + grads": grads((x) => tf.add(tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"), tf.avgPool(x as tf.Tensor4D, 2, 2, "valid")), () => [seeded([1, 4, 4, 2], 1)]),
  "maxPool grad of all-negative windows": grad((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "same"), () => tf.sub(tf.abs(seeded([1, 5, 5, 2], 3)), 2)),
  // shapes and indexing
  "transpose 4-D (attention heads) + grad": grad((x) => tf.transpose(x, [0, 2, 1, 3]), () => seeded([2, 3, 4, 5], 1)),
  "concat + grads": grads((a, b) => tf.concat([a as tf.Tensor, b as tf.Tensor], 1), () => [seeded([3, 4], 1), seeded([3, 5], 2)]),
  "slice + grad": grad((x) => tf.slice(x, [1, 1], [2, 2]), x34),
  "split + grad": grad((x) => {
    const [a, b] = tf.split(x, [1, 3], 1);
    return tf.mul(a as tf.Tensor, b as tf.Tensor);
  }, x34),
  "stack / unstack + grad": grad((x) => tf.stack(tf.unstack(x).reverse()), x34),
  "pad + grad": grad((x) => tf.pad(x, [[1, 1], [0, 2]], 0.5), x34),
  "mirrorPad + grad": grad((x) => tf.mirrorPad(x, [[1, 1], [0, 2]], "reflect"), x34),
  "tile / broadcastTo + grads": grads((a, b) => tf.add(tf.tile(a as tf.Tensor, [2, 1]), tf.broadcastTo(b as tf.Tensor, [6, 4])), () => [seeded([3, 4], 1), seeded([1, 4], 2)]),
  "reverse + grad": grad((x) => tf.reverse(x, 1), x34),
  "where / select + grads": grads((a, b) => tf.where(tf.greater(a as tf.Tensor, b as tf.Tensor), a as tf.Tensor, b as tf.Tensor), () => [seeded([3, 4], 1), seeded([3, 4], 2)]),
  "masked fill (causal mask) + grad": grad((x) => tf.where(tf.cast(tf.linalg.bandPart(tf.ones([4, 4]), -1, 0), "bool"), x, tf.fill([4, 4], -1e9)), () => seeded([4, 4], 1)),
  "oneHot int32 / float32": () => [tf.oneHot(ids([0, 2, -1], [3]), 4), tf.oneHot(ids([1, 0], [2]), 3, 1, 0, "float32"), tf.oneHot(ids([1, 3], [2]), 4, 2.5, -1, "float32")],
  "cumsum (exclusive, reverse) + grad": grad((x) => tf.add(tf.cumsum(x, 1), tf.cumsum(x, 1, true, true)), x34),
  "topk": () => {
    const t = tf.topk(seeded([3, 8], 1), 3);
    return [t.values, t.indices];
  },
  "argMax / argMin": () => [tf.argMax(seeded([3, 8], 1), 1), tf.argMin(seeded([3, 8], 1), 0)],
  // binary ops with broadcasting
  "maximum / minimum broadcast + grads": grads((a, b) => tf.add(tf.maximum(a as tf.Tensor, b as tf.Tensor), tf.minimum(a as tf.Tensor, b as tf.Tensor)), () => [seeded([3, 4], 1), seeded([4], 2)]),
  "squaredDifference broadcast + grads": grads((a, b) => tf.squaredDifference(a as tf.Tensor, b as tf.Tensor), () => [seeded([3, 4], 1), seeded([4], 2)]),
  "div / pow broadcast + grads": grads((a, b) => tf.pow(tf.add(tf.abs(tf.div(a as tf.Tensor, tf.add(tf.abs(b as tf.Tensor), 1))), 0.5), 1.5), () => [seeded([3, 4], 1), seeded([4], 2)]),
  // losses
  "softmax cross-entropy + grad": grad((x) => tf.losses.softmaxCrossEntropy(tf.oneHot(ids([0, 1, 3], [3]), 4), x), () => seeded([3, 4], 1)),
  "sigmoid cross-entropy + grad": grad((x) => tf.losses.sigmoidCrossEntropy(tf.tensor2d([[1, 0], [0, 1]]), x), () => seeded([2, 2], 1)),
};

describe("wasm (with fill-ins) agrees with stock cpu", () => {
  it("fills every kernel cpu has and wasm lacks, except the documented ones", () => {
    const cpu = new Set(tf.getKernelsForBackend("cpu").map((k) => k.kernelName));
    const unfilled = ["Complex", "ComplexAbs", "Draw", "FFT", "IFFT", "Imag", "Real", "StaticRegexReplace"];
    const missing = [...cpu].filter((k) => tf.getKernel(k, "wasm") === undefined && !unfilled.includes(k));
    expect(missing).toEqual([]);
    expect(registeredFillins()).toContain("wasm/UnsortedSegmentSum");
  });

  it("depthwiseConv2d NCHW equals NHWC transposed (cpu's own NCHW depthwise is wrong)", async () => {
    await noLeaks(async () => {
      const x = (): tf.Tensor4D => seeded([1, 2, 5, 5], 1) as tf.Tensor4D;
      const f = (): tf.Tensor4D => seeded([3, 3, 2, 2], 2) as tf.Tensor4D;
      const ours = await on("wasm", () => tf.depthwiseConv2d(x(), f(), 1, "same", "NCHW"));
      const ref = await withStockKernels(() =>
        on("cpu", () => tf.transpose(tf.depthwiseConv2d(tf.transpose(x(), [0, 2, 3, 1]), f(), 1, "same"), [0, 3, 1, 2])),
      );
      expectClose(ours, ref, 1e-4, "depthwise NCHW");
    });
  });

  it.each(Object.keys(CASES))("%s", async (name) => {
    const f = CASES[name] as Case;
    await noLeaks(async () => {
      const ours = await on("wasm", f);
      const ref = await withStockKernels(() => on("cpu", f));
      expectClose(ours, ref, 1e-4, name);
    });
  });
});
