/**
 * A custom architecture kind, adapted by LoRA without knowing about it.
 *
 * `residualMlp` computes x + fc2(gelu(fc1(norm(x)))). Its forward calls
 * `forward(child, …)` for every child, so when `inject` replaces `fc1` by a
 * LoRA layer, the residual block runs the adapted layer unchanged.
 *
 * Run: npx tsx examples/custom-kind/main.ts
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  apply,
  builtinKinds,
  disposeTree,
  extendKinds,
  forward,
  gelu,
  initBackend,
  inject,
  layerNorm,
  linear,
  lora,
  loraConfig,
  node,
  sequential,
  show,
  type KindDef,
  type Node,
} from "../../src/index.js";

/** The kind: behaviour for nodes tagged "residualMlp". */
export const residualMlpKind: KindDef = {
  kind: "residualMlp",
  doc: "x + fc2(gelu(fc1(norm(x))))",
  forward: (n, x, ctx) => {
    const c = n.children as Record<"norm" | "fc1" | "fc2", Node>;
    return tf.add(x, forward(c.fc2, gelu(forward(c.fc1, forward(c.norm, x, ctx), ctx)), ctx));
  },
};

/** A constructor for it. */
export const residualMlp = (dim: number, hidden: number, seed: number): Node =>
  node("residualMlp", {
    children: {
      norm: layerNorm({ dim }),
      fc1: linear({ inFeatures: dim, outFeatures: hidden }, seed),
      fc2: linear({ inFeatures: hidden, outFeatures: dim }, seed + 1),
    },
    meta: { dim, hidden },
  });

/** The registry with the new kind. */
export const kinds = extendKinds(builtinKinds, residualMlpKind);

const main = async (): Promise<void> => {
  await initBackend();
  const model = sequential({ block0: residualMlp(16, 64, 0), block1: residualMlp(16, 64, 10) });
  const adapted = inject(model, lora, loraConfig({ r: 4, targetModules: ["fc1"], initLoraWeights: false }));
  console.log(show(adapted, { meta: false }));
  const x = tf.randomNormal([3, 16], 0, 1, "float32", 1);
  const before = apply(model, x, { kinds });
  const after = apply(adapted, x, { kinds });
  console.log(`max |adapted − base| = ${tf.tidy(() => tf.max(tf.abs(tf.sub(after, before))).dataSync()[0])}`);
  tf.dispose([x, before, after]);
  disposeTree(adapted);
  disposeTree(model);
};

if (process.argv[1]?.endsWith("main.ts")) void main();
