/**
 * `npm run bench`: the shared workload (../shared/bench/workload.json) —
 * LoRA r=8 on a GPT-2-shaped decoder (d=256, 4 layers, vocab 5000, batch 8×128),
 * AdamW — timed like Python PEFT was: warm-up rounds, then measured rounds,
 * measurements interleaved round-robin, median per measurement.
 *
 * Prints one JSON object with the keys of ../shared/bench/python-peft-timings.json,
 * plus `backend`, `gemm`, `peak_rss_mb`, and `vs_python_peft` (our median / PEFT's).
 *
 * Env: BENCH_WARMUP (default 5), BENCH_RUNS (default 20), BENCH_WORKLOAD (path).
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
  partition,
  type Node,
  type Params,
} from "../src/index.js";

const here = nodePath.dirname(new URL(import.meta.url).pathname);
const sharedBench = nodePath.resolve(here, "..", "..", "shared", "bench");

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  const r = (v: number) => Math.round(v * 100) / 100;
  return { median_ms: r(median), min_ms: r(s[0] as number), max_ms: r(s[s.length - 1] as number), runs: s.length };
};

const main = async (): Promise<void> => {
  const workload = JSON.parse(await fs.readFile(process.env["BENCH_WORKLOAD"] ?? nodePath.join(sharedBench, "workload.json"), "utf8"));
  const python = JSON.parse(await fs.readFile(nodePath.join(sharedBench, "python-peft-timings.json"), "utf8").catch(() => "null"));
  await initBackend({ quiet: true });
  const warmup = Number(process.env["BENCH_WARMUP"] ?? workload.timing?.warmup ?? 5);
  const runs = Number(process.env["BENCH_RUNS"] ?? workload.timing?.runs ?? 20);
  const m = workload.model;
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
  const { batch, seq } = workload.data;
  const ids = tf.randomUniform([batch, seq], 0, m.vocab_size, "int32", 0);
  const mask = tf.ones([batch, seq], "int32");
  const side = { attentionMask: mask };
  const l = workload.lora;
  const adapted = inject(
    base,
    lora,
    loraConfig({ r: l.r, loraAlpha: l.lora_alpha, targetModules: l.target_modules, loraDropout: l.lora_dropout, fanInFanOut: l.fan_in_fan_out }),
  );
  const merged = E.getOrElseW((e: { message: string }) => {
    throw new Error(e.message);
  })(mergeAndUnload(adapted));
  const full = markTrainable(base, () => true);
  const o = workload.optimizer;
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
  const forward = (model: Node) => () => {
    const y = apply(model, ids, { side });
    y.dataSync();
    y.dispose();
  };
  const measurements: Record<string, () => void> = {
    base_forward: forward(base),
    lora_forward_unmerged: forward(adapted),
    lora_forward_merged: forward(merged),
    lora_train_step: loraTrain.step,
    base_full_finetune_step: fullTrain.step,
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(measurements).map((k) => [k, []]));
  let peakRss = process.memoryUsage().rss;
  for (let round = 0; round < warmup + runs; round++) {
    for (const [k, f] of Object.entries(measurements)) {
      const t0 = performance.now();
      f();
      const dt = performance.now() - t0;
      if (round >= warmup) times[k]?.push(dt);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  }
  const detail = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, stats(v)]));
  const med = (k: string) => detail[k]?.median_ms as number;
  const ratio = (a: string, b: string) => Math.round((med(a) / med(b)) * 1000) / 1000;
  const counts = countParams(adapted);
  const out = {
    workload: workload.name,
    impl: "peft-ts",
    backend: backendReport()?.backend,
    gemm: (backendReport() as unknown as { gemm?: unknown } | undefined)?.gemm ?? null,
    warmup,
    runs,
    params_total: counts.total,
    params_trainable_lora: counts.trainable,
    median_ms: Object.fromEntries(Object.keys(times).map((k) => [k, med(k)])),
    ratios: {
      "lora_train_step / base_full_finetune_step": ratio("lora_train_step", "base_full_finetune_step"),
      "lora_forward_unmerged / base_forward": ratio("lora_forward_unmerged", "base_forward"),
      "lora_forward_merged / base_forward": ratio("lora_forward_merged", "base_forward"),
      "lora_forward_unmerged / lora_forward_merged": ratio("lora_forward_unmerged", "lora_forward_merged"),
    },
    vs_python_peft:
      python === null
        ? null
        : Object.fromEntries(Object.keys(times).map((k) => [k, Math.round((med(k) / (python.median_ms[k] as number)) * 100) / 100])),
    peak_rss_mb: Math.round(peakRss / 2 ** 20),
    detail,
  };
  console.log(JSON.stringify(out, null, 2));
  loraTrain.dispose();
  fullTrain.dispose();
  disposeTree(merged);
  disposeTree(adapted);
  tf.dispose([ids, mask]);
};

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
