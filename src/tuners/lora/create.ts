/**
 * Creating one LoRA adapter's slots on a layer (`lora_A`/`lora_B`, the
 * embedding's `lora_embedding_A`/`_B`, DoRA's magnitude), initialised as PEFT
 * does.
 */
import * as tf from "@tensorflow/tfjs-core";
import { node, type Node } from "../../tree/node.js";
import { toString } from "../../tree/path.js";
import { kaimingUniformA5, normal, split, uniform } from "../../nn/init.js";
import type { Conv2dMeta } from "../../nn/conv.js";
import { tidy } from "../../nn/ops.js";
import { innermostBase } from "../layer.js";
import type { CreateArgs, Created } from "../types.js";
import type { LoraConfig } from "./config.js";
import { loraSettingsFor } from "./settings.js";
import { doraWeightNorm, weightOf } from "./weights.js";

const checkInit = (init: boolean | string): "kaiming" | "gaussian" | "random" => {
  if (init === true) return "kaiming";
  if (init === false) return "random";
  if (init.toLowerCase() === "gaussian") return "gaussian";
  throw new Error(
    `init_lora_weights='${init}' is not supported (supported: true, false, "gaussian"); data-driven inits (PiSSA, OLoRA, LoftQ, EVA, CorDA) are not implemented yet`,
  );
};

const linearNode = (weight: tf.Tensor, bias?: tf.Tensor): Node =>
  node<"linear", string>("linear", {
    params: bias === undefined ? { weight } : { weight, bias },
    meta: { inFeatures: weight.shape[1], outFeatures: weight.shape[0] },
  });

/** One LoRA adapter's slots for one layer, initialised as PEFT does. */
export const createLora = ({ config, adapter, path, base, seed, loading }: CreateArgs<LoraConfig>): Created => {
  const inner = innermostBase(base);
  const s = loraSettingsFor(config, toString(path));
  const init = loading ? "kaiming" : checkInit(config.initLoraWeights);
  const key = (label: string) => split(seed, `${toString(path)}/${adapter}/${label}`);
  const w = weightOf(inner);
  const r = s.r;
  return tidy(() => {
    let slots: Record<string, Node | tf.Tensor>;
    if (inner.kind === "linear" || inner.kind === "conv1d") {
      const [outF, inF] = inner.kind === "linear" ? w.shape : [w.shape[1], w.shape[0]];
      const a =
        init === "gaussian" ? normal([r, inF as number], 1 / r, key("A")) : kaimingUniformA5([r, inF as number], inF as number, key("A"));
      const b = init === "random" ? uniform([outF as number, r], 1 / Math.sqrt(r), key("B")) : tf.zeros([outF as number, r]);
      const bb = s.loraBias ? (init === "random" ? uniform([outF as number], 1 / Math.sqrt(r), key("Bb")) : tf.zeros([outF as number])) : undefined;
      slots = { lora_A: linearNode(a), lora_B: linearNode(b, bb) };
    } else if (inner.kind === "conv2d") {
      const m = inner.meta as unknown as Conv2dMeta;
      const [outC, inC, kh, kw] = w.shape as [number, number, number, number];
      if (m.groups !== 1) throw new Error(`${toString(path)}: LoRA on grouped conv2d (groups=${m.groups}) is not supported`);
      const fanIn = inC * kh * kw;
      const a =
        init === "gaussian" ? normal([r, inC, kh, kw], 1 / r, key("A")) : kaimingUniformA5([r, inC, kh, kw], fanIn, key("A"));
      const b = init === "random" ? uniform([outC, r, 1, 1], 1 / Math.sqrt(r), key("B")) : tf.zeros([outC, r, 1, 1]);
      const bb = s.loraBias ? (init === "random" ? uniform([outC], 1 / Math.sqrt(r), key("Bb")) : tf.zeros([outC])) : undefined;
      const convMeta = (inCh: number, outCh: number, k: readonly [number, number], stride: readonly [number, number], padding: readonly [number, number], dilation: readonly [number, number]) =>
        ({ inChannels: inCh, outChannels: outCh, kernelSize: k, stride, padding, dilation, groups: 1 }) satisfies Conv2dMeta;
      slots = {
        lora_A: node("conv2d", { params: { weight: a }, meta: convMeta(inC, r, [kh, kw], m.stride, m.padding, m.dilation) }),
        lora_B: node<"conv2d", string>("conv2d", {
          params: bb === undefined ? { weight: b } : { weight: b, bias: bb },
          meta: convMeta(r, outC, [1, 1], [1, 1], [0, 0], [1, 1]),
        }),
      };
    } else if (inner.kind === "embedding") {
      const [num, dim] = w.shape as [number, number];
      if (s.loraBias) throw new Error(`${toString(path)}: lora_bias is not supported for embeddings (PEFT neither)`);
      const a = init === "random" ? normal([r, num], 1, key("A")) : init === "gaussian" ? tf.zeros([r, num]) : tf.zeros([r, num]);
      const b = normal([dim, r], 1, key("B"));
      slots = { lora_embedding_A: a, lora_embedding_B: b };
    } else {
      throw new Error(`${toString(path)}: LoRA cannot adapt a '${inner.kind}' layer (supported: linear, conv1d, conv2d, embedding)`);
    }
    if (s.useDora) {
      const probe = node("lora", { children: { base_layer: base, ...dictsOf(slots, adapter) }, meta: { peftType: "LORA", adapters: { [adapter]: s } } });
      slots = { ...slots, lora_magnitude_vector: doraWeightNorm(probe, adapter) };
    }
    return { slots, settings: s as unknown as Record<string, unknown> };
  });
};

const dictsOf = (slots: Readonly<Record<string, Node | tf.Tensor>>, adapter: string): Record<string, Node> =>
  Object.fromEntries(
    Object.entries(slots).map(([k, v]) => [k, v instanceof tf.Tensor ? node("dict", { params: { [adapter]: v } }) : node("dict", { children: { [adapter]: v } })]),
  );
