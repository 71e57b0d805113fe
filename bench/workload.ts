/**
 * The shared workload (../shared/bench/workload.json) set up once: the base
 * GPT-2-shaped model, its LoRA-adapted and merged forms, a full-fine-tuning
 * copy, the batch, and one closure per measurement (the keys of
 * ../shared/bench/python-peft-timings.json). Used by ./lora-gpt2.ts (timing)
 * and ./profile.ts (per-kernel profile).
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  adamw,
  apply,
  backendReport,
  buildGpt2,
  causalLmLoss,
  countParams,
  decodeGpt2Config,
  disposeState,
  disposeTree,
  initBackend,
  inject,
  lora,
  loraConfig,
  lossAndGrads,
  markTrainable,
  mergeAndUnload,
  orThrow,
  partition,
  type Node,
  type Params,
} from "../src/index.js";

const here = nodePath.dirname(new URL(import.meta.url).pathname);
export const sharedBench = nodePath.resolve(here, "..", "..", "shared", "bench");

/** The measurements, in the order they run within a round. */
export const MEASUREMENTS = [
  "base_forward",
  "lora_forward_unmerged",
  "lora_forward_merged",
  "lora_train_step",
  "base_full_finetune_step",
] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export interface Workload {
  readonly name: string;
  readonly timing: { readonly warmup?: number; readonly runs?: number };
  readonly measurements: Record<Measurement, () => void>;
  readonly counts: { readonly total: number; readonly trainable: number };
  /** The GEMM path at set-up time, as reported by the backend. */
  readonly gemm: string;
  readonly dispose: () => void;
}

export const readWorkloadJson = async (): Promise<Record<string, any>> =>
  JSON.parse(await fs.readFile(process.env["BENCH_WORKLOAD"] ?? nodePath.join(sharedBench, "workload.json"), "utf8"));

export const setupWorkload = async (): Promise<Workload> => {
  const workload = await readWorkloadJson();
  await initBackend({ quiet: true });
  const m = workload["model"];
  const cfg = decodeGpt2Config({
    model_type: "gpt2",
    vocab_size: m.vocab_size,
    n_positions: m.n_positions,
    n_embd: m.n_embd,
    n_layer: m.n_layer,
    n_head: m.n_head,
    n_inner: m.n_inner,
    activation_function: m.activation_function,
    layer_norm_epsilon: m.layer_norm_epsilon,
    resid_pdrop: m.dropout,
    embd_pdrop: m.dropout,
    attn_pdrop: m.dropout,
    tie_word_embeddings: m.tie_word_embeddings,
  });
  if (E.isLeft(cfg)) throw new Error(`workload model: ${JSON.stringify(cfg.left)}`);
  const base = buildGpt2(cfg.right, { seed: 0 });
  const { batch, seq } = workload["data"];
  const ids = tf.randomUniform([batch, seq], 0, m.vocab_size, "int32", 0);
  const mask = tf.ones([batch, seq], "int32");
  const side = { attentionMask: mask };
  const l = workload["lora"];
  const adapted = inject(
    base,
    lora,
    loraConfig({ r: l.r, loraAlpha: l.lora_alpha, targetModules: l.target_modules, loraDropout: l.lora_dropout, fanInFanOut: l.fan_in_fan_out }),
  );
  const merged = orThrow(mergeAndUnload(adapted));
  const full = markTrainable(base, () => true);
  const o = workload["optimizer"];
  const opt = adamw({ lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
  const loss = (model: Node, b: tf.Tensor) => causalLmLoss(apply(model, b, { training: true, side }), b) as tf.Scalar;

  /** A training setup: current params and optimizer state, one step at a time. */
  const trainer = (tree: Node) => {
    let params: Params = partition(tree).trainable;
    const initial = new Set(Object.values(params));
    let state = opt.init(params);
    return {
      step: () => {
        const { grads } = lossAndGrads(tree, params, ids, loss);
        const next = opt.update(grads, state, params);
        tf.dispose(Object.values(grads));
        for (const t of Object.values(params)) if (!initial.has(t)) t.dispose();
        disposeState(state);
        params = next.params;
        state = next.state;
      },
      dispose: () => {
        for (const t of Object.values(params)) if (!initial.has(t)) t.dispose();
        disposeState(state);
      },
    };
  };
  const loraTrain = trainer(adapted);
  const fullTrain = trainer(full);
  // The logits are not copied out: wasm/cpu kernels run synchronously, so they
  // are computed when `apply` returns, and reading one element is a sync point
  // on any backend (PyTorch's forward does not copy them either). A full
  // `y.dataSync()` copied 20 MB ([8, 128, 5000] f32) into a fresh JS
  // ArrayBuffer per forward; V8 counts that as external memory and, every
  // third forward, paid it back with scavenges and a mark-compact (~16 ms of
  // pauses, plus concurrent marking beside the 2-thread GEMMs) at the next
  // forward's first JS allocation — in the bench's round order always inside
  // lora_forward_merged, which made merged look 1.1–1.3× slower than base.
  const forward = (model: Node) => () => {
    const y = apply(model, ids, { side });
    const first = tf.tidy(() => tf.slice(tf.reshape(y, [-1]), 0, 1));
    first.dataSync();
    tf.dispose([first, y]);
  };
  const g = backendReport()?.gemm;
  return {
    name: workload["name"],
    timing: workload["timing"] ?? {},
    measurements: {
      base_forward: forward(base),
      lora_forward_unmerged: forward(adapted),
      lora_forward_merged: forward(merged),
      lora_train_step: loraTrain.step,
      base_full_finetune_step: fullTrain.step,
    },
    counts: countParams(adapted),
    gemm: g === undefined ? "?" : `${g.path}${g.detail !== "" ? ` (${g.detail})` : ""}`,
    dispose: () => {
      loraTrain.dispose();
      fullTrain.dispose();
      disposeTree(merged);
      disposeTree(adapted);
      tf.dispose([ids, mask]);
    },
  };
};
