/**
 * Choosing the next token from one row of logits, on the host: greedy
 * (argmax) or sampling after transformers' warpers in their order —
 * temperature, top-k, top-p — with a seeded generator, so a seed gives the
 * same tokens on every backend.
 */

/** A seeded uniform [0, 1) generator (mulberry32). */
export type Rng = () => number;

/**
 * A deterministic generator for a seed.
 *
 * @example
 *   const rand = rng(42); rand() // 0.6011037519201636 (always, for seed 42)
 */
export const rng = (seed: number): Rng => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/**
 * The index of the largest value (the first one on ties, as torch.argmax).
 *
 * @example
 *   argmax([0.1, 2, 2]) // 1
 */
export const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
};

/** Sampling settings (transformers' `GenerationConfig` names, camelCase). */
export interface SamplingOptions {
  /** Divide logits by this (default 1). */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: all). */
  readonly topP?: number;
}

/**
 * The distribution to sample from: softmax of the warped logits, zero for
 * filtered tokens.
 *
 * @example
 *   samplingProbs([2, 1, 0], { topK: 2 }) // [0.731, 0.269, 0]
 */
export const samplingProbs = (logits: ArrayLike<number>, o: SamplingOptions = {}): Float64Array => {
  const v = logits.length;
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature} (use greedy decoding instead)`);
  const order = Array.from({ length: v }, (_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
  const topK = o.topK !== undefined && o.topK > 0 ? Math.min(o.topK, v) : v;
  const kept = order.slice(0, topK);
  const max = (logits[kept[0] as number] as number) / temperature;
  const probs = new Float64Array(v);
  let sum = 0;
  for (const i of kept) {
    const e = Math.exp((logits[i] as number) / temperature - max);
    probs[i] = e;
    sum += e;
  }
  for (const i of kept) (probs as Float64Array)[i] = (probs[i] as number) / sum;
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let cum = 0;
    let cut = kept.length;
    for (let j = 0; j < kept.length; j++) {
      cum += probs[kept[j] as number] as number;
      if (cum >= topP) {
        cut = j + 1;
        break;
      }
    }
    let kSum = 0;
    for (let j = 0; j < kept.length; j++) {
      const i = kept[j] as number;
      if (j >= cut) probs[i] = 0;
      else kSum += probs[i] as number;
    }
    for (let j = 0; j < cut; j++) {
      const i = kept[j] as number;
      probs[i] = (probs[i] as number) / kSum;
    }
  }
  return probs;
};

/**
 * Draw an index from a distribution.
 *
 * @example
 *   sampleFrom(samplingProbs(logits, { topK: 50 }), rng(0))
 */
export const sampleFrom = (probs: ArrayLike<number>, rand: Rng): number => {
  const u = rand();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (p <= 0) continue;
    last = i;
    cum += p;
    if (u < cum) return i;
  }
  return last;
};
