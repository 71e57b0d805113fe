/**
 * Text generation for causal-LM trees (GPT-2, LLaMA family, with or without
 * adapters): a pure KV-cache step, and a `generate` loop with greedy or
 * seeded sampling, stop tokens and left-padded batches.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import { forward, type Kinds } from "../nn/registry.js";
import { makeCtx } from "../apply.js";
import { fullMask, type KeyValue } from "./common/attention.js";
import { allIds } from "./common/config.js";
import { rootMeta } from "./common/head.js";
import { argmax, rng, sampleFrom, samplingProbs, type SamplingOptions } from "./sampling.js";

export * from "./sampling.js";

/**
 * The keys and values of every layer for the positions seen so far (a
 * prefix included): a value; a step returns a new one and never changes
 * the old. Free it with {@link disposeCache}.
 */
export interface KvCache {
  /** Per layer [k, v], each [B, H_kv, length, head_dim]. */
  readonly layers: ReadonlyArray<KeyValue>;
  /** Number of cached positions. */
  readonly length: number;
}

/**
 * The cache before the first step.
 *
 * @example
 *   const { logits, cache } = causalLmStep(model, promptIds, emptyCache)
 */
export const emptyCache: KvCache = Object.freeze({ layers: [], length: 0 });

/**
 * Dispose a cache's tensors.
 *
 * @example
 *   disposeCache(cache)
 */
export const disposeCache = (c: KvCache): void => {
  for (const [k, v] of c.layers) tf.dispose([k, v]);
};

/** Options of {@link causalLmStep}. */
export interface StepOptions {
  readonly kinds?: Kinds;
  /** Side inputs: `attentionMask` over cache + new positions, `positionIds`, `prefixKeyValues` (first step only)… */
  readonly side?: Readonly<Record<string, unknown>>;
}

/**
 * Run new tokens `ids` [B, T] after a cache: logits [B, T, V] and the cache
 * extended by T positions. Pure: inputs and the old cache are not disposed.
 * A `prefixKeyValues` side input is used only while the cache is empty (it
 * becomes part of the cache).
 *
 * @example
 *   let { logits, cache } = causalLmStep(gpt2, promptIds, emptyCache)
 *   const next = causalLmStep(gpt2, nextIds, cache)   // one position, attends to the whole prompt
 */
export const causalLmStep = (model: Node, ids: tf.Tensor, cache: KvCache, o: StepOptions = {}): { readonly logits: tf.Tensor; readonly cache: KvCache } => {
  const out = tf.tidy(() => {
    const kv: Array<KeyValue> = [];
    const { prefixKeyValues, ...rest } = o.side ?? {};
    const side = { ...rest, ...(cache.length === 0 && prefixKeyValues !== undefined ? { prefixKeyValues } : {}) };
    const ctx = {
      ...makeCtx({ side, ...(o.kinds === undefined ? {} : { kinds: o.kinds }) }),
      ...(cache.length > 0 ? { pastKeyValues: cache.layers } : {}),
      onKeyValues: (layer: number, pair: KeyValue) => {
        kv[layer] = pair;
      },
    };
    const logits = forward(model, ids, ctx);
    return { logits, kv: kv.flatMap(([k, v]) => [k, v]) };
  });
  const layers: KeyValue[] = [];
  for (let i = 0; i < out.kv.length; i += 2) layers.push([out.kv[i] as tf.Tensor, out.kv[i + 1] as tf.Tensor]);
  return { logits: out.logits, cache: { layers, length: (layers[0]?.[0].shape[2] as number | undefined) ?? 0 } };
};

/**
 * GPT-2's step ({@link causalLmStep}).
 *
 * @example
 *   const { logits, cache } = gpt2Step(gpt2, ids, emptyCache)
 */
export const gpt2Step = causalLmStep;

/**
 * The end-of-sequence ids of a model's config (`eos_token_id`, one or many):
 * what transformers stops on by default. Pass them as `stopTokens`.
 *
 * @example
 *   generate(model, ids, { stopTokens: eosTokenIds(model) })
 */
export const eosTokenIds = (model: Node): ReadonlyArray<number> =>
  allIds(rootMeta(model).config["eos_token_id"] as number | ReadonlyArray<number> | null | undefined);

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to add at most (default 20). */
  readonly maxNewTokens?: number;
  /** Sample (with temperature/topK/topP) instead of greedy argmax (default false). */
  readonly doSample?: boolean;
  /** Seed of the sampler (default 0). */
  readonly seed?: number;
  /** A row stops after producing one of these (e.g. the eos id). */
  readonly stopTokens?: ReadonlyArray<number>;
  /** Filler for rows that stopped (default: the first stop token, else 0). */
  readonly padTokenId?: number;
  /** [B, T] mask of the prompt (0 = left padding). Default all ones. */
  readonly attentionMask?: tf.Tensor;
  /** Reuse keys/values across steps (default true); false recomputes the whole sequence each step. */
  readonly useCache?: boolean;
  readonly kinds?: Kinds;
  /** Extra side inputs (e.g. `prefixKeyValues` from prefix tuning). */
  readonly side?: Readonly<Record<string, unknown>>;
}

/** What {@link generate} returns (plain arrays: nothing to dispose). */
export interface GenerateResult {
  /** Per row: the prompt as given (padding included), then the new tokens (stopped rows filled with padding). */
  readonly sequences: ReadonlyArray<ReadonlyArray<number>>;
  /** Per row: only the generated tokens, up to and including the stop token. */
  readonly tokens: ReadonlyArray<ReadonlyArray<number>>;
}

/** Positions from a mask over (prefix +) tokens: cumsum − 1, padding clamped to 1 as transformers does. */
const positionsFromMask = (mask: tf.Tensor, last: number): tf.Tensor =>
  tf.tidy(() => {
    const m = tf.cast(mask, "int32");
    const pos = tf.sub(tf.cumsum(m, 1), 1);
    const clamped = tf.where(tf.equal(m, 0), tf.onesLike(pos), pos);
    const [b, n] = m.shape as [number, number];
    return tf.slice(clamped, [0, n - last], [b, last]);
  });

/** A [B, T] tensor's values as int rows. */
const intRows = (x: tf.Tensor): number[][] => {
  const t = tf.cast(x, "int32");
  const rows = t.arraySync() as number[][];
  if (t !== x) t.dispose();
  return rows;
};

const prefixLength = (side: Readonly<Record<string, unknown>> | undefined): number => {
  const p = side?.["prefixKeyValues"] as ReadonlyArray<KeyValue> | undefined;
  return (p?.[0]?.[0].shape[2] as number | undefined) ?? 0;
};

/**
 * Generate tokens after prompts `ids` [B, T] (left-padded when `attentionMask` has zeros).
 *
 * @example
 *   const { inputIds, attentionMask } = encodeBatch(tok, ["Once upon", "Hi"], { paddingSide: "left" })
 *   const out = generate(model, inputIds, { attentionMask, maxNewTokens: 20, stopTokens: [tok.eosTokenId!] })
 *   out.tokens.map((t) => tok.decode(t))
 *   generate(model, inputIds, { doSample: true, temperature: 0.8, topK: 50, topP: 0.95, seed: 1 })
 */
export const generate = (model: Node, ids: tf.Tensor, o: GenerateOptions = {}): GenerateResult => {
  const batch = ids.shape[0] as number;
  const maxNew = o.maxNewTokens ?? 20;
  const stops = new Set(o.stopTokens ?? []);
  const pad = o.padTokenId ?? o.stopTokens?.[0] ?? 0;
  const rand = rng(o.seed ?? 0);
  const useCache = o.useCache ?? true;
  const prefix = prefixLength(o.side);
  const rows = intRows(ids);
  const maskRows = o.attentionMask === undefined ? rows.map((r) => r.map(() => 1)) : intRows(o.attentionMask);
  const tokens: number[][] = rows.map(() => []);
  const done = rows.map(() => false);
  let cache: KvCache = emptyCache;
  for (let step = 0; step < maxNew && !done.every((d) => d); step++) {
    const newLen = step === 0 || !useCache ? rows[0]?.length ?? 0 : 1;
    const last = tf.tidy(() => {
      const seq = tf.tensor2d(rows.map((r) => r.slice(r.length - newLen)), [batch, newLen], "int32");
      const mask = tf.tensor2d(maskRows, [batch, maskRows[0]?.length ?? 0], "int32");
      const withPrefix = fullMask(mask, prefix + (maskRows[0]?.length ?? 0));
      const side = { ...(o.side ?? {}), attentionMask: mask, positionIds: positionsFromMask(withPrefix, newLen) };
      const r = causalLmStep(model, seq, useCache ? cache : emptyCache, { side, ...(o.kinds === undefined ? {} : { kinds: o.kinds }) });
      if (useCache) {
        disposeCache(cache);
        cache = r.cache;
        for (const kv of cache.layers) kv.forEach((t) => tf.keep(t));
      } else disposeCache(r.cache);
      const v = r.logits.shape[2] as number;
      return tf.reshape(tf.slice(r.logits, [0, newLen - 1, 0], [batch, 1, v]), [batch, v]);
    });
    const logits = last.arraySync() as number[][];
    last.dispose();
    logits.forEach((row, b) => {
      const next = done[b] ? pad : o.doSample === true ? sampleFrom(samplingProbs(row, o), rand) : argmax(row);
      if (!done[b]) {
        tokens[b]?.push(next);
        if (stops.has(next)) done[b] = true;
      }
      rows[b]?.push(next);
      maskRows[b]?.push(1);
    });
  }
  disposeCache(cache);
  return { sequences: rows, tokens };
};
