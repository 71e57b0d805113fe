/**
 * Merging task tensors (PEFT's `utils/merge_utils.py`): task arithmetic,
 * magnitude pruning, TIES (Yadav et al. 2023, arXiv:2306.01708) and DARE
 * (Yu et al. 2023, arXiv:2311.03099), on flat float32 arrays of equal length.
 *
 * Values are stored in `Float32Array`s after every product and sum, which is
 * float32 arithmetic exactly (a product or sum of two float32s computed in
 * float64 and rounded once is the correctly rounded float32 result), so task
 * arithmetic matches torch's bit for bit.
 *
 * DARE's random masks come from a seeded counter-hash generator, not torch's
 * Philox/MT19937 stream: the same `seed` gives the same masks here, but not the
 * masks PEFT draws (they are random there too; only their distribution —
 * Bernoulli(density) per entry — is the same).
 */

/** Which sign wins in TIES: the sign of the sum (`total`) or the more frequent one (`frequency`). */
export type MajoritySignMethod = "total" | "frequency";

/** A deterministic uniform [0, 1) generator (a splitmix32-style counter hash of `seed`). */
export const seededUniform = (seed: number): (() => number) => {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
};

const checkDensity = (density: number): void => {
  if (!(density >= 0)) throw new RangeError(`density must be ≥ 0, got ${density}`);
};

/** Keep the `⌊density·n⌋` entries of largest magnitude (PEFT's `magnitude_based_pruning`); density ≥ 1 keeps all. */
export const magnitudePruned = (t: Float32Array, density: number): Float32Array => {
  checkDensity(density);
  if (density >= 1) return t;
  const k = Math.floor(density * t.length);
  const order = Array.from(t.keys()).sort((i, j) => Math.abs(t[j] as number) - Math.abs(t[i] as number));
  const out = new Float32Array(t.length);
  for (let r = 0; r < k; r++) {
    const i = order[r] as number;
    out[i] = t[i] as number;
  }
  return out;
};

/** Keep each entry with probability `density`, rescaled by 1/density (DARE); density ≥ 1 keeps all. */
export const randomPruned = (t: Float32Array, density: number, rand: () => number): Float32Array => {
  checkDensity(density);
  if (density >= 1) return t;
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) if (rand() < density) out[i] = (t[i] as number) / density;
  return out;
};

/** Σᵢ wᵢ·tᵢ in float32 (PEFT's `task_arithmetic`). */
export const taskArithmetic = (tasks: ReadonlyArray<Float32Array>, weights: ReadonlyArray<number>): Float32Array => {
  const n = tasks[0]?.length ?? 0;
  const out = new Float32Array(n);
  const w = Float32Array.from(weights);
  const prod = new Float32Array(1);
  tasks.forEach((t, ti) => {
    if (t.length !== n) throw new Error(`task tensors differ in size: ${t.length} vs ${n}`);
    const wi = w[ti] as number;
    for (let i = 0; i < n; i++) {
      prod[0] = (t[i] as number) * wi;
      out[i] = ti === 0 ? (prod[0] as number) : (out[i] as number) + (prod[0] as number);
    }
  });
  return out;
};

/**
 * TIES' elect-and-merge: per entry, the majority sign (of the sum, or of the
 * count of signs; ties go to +), then the mean of the weighted entries that
 * agree with it (PEFT's `calculate_majority_sign_mask` + `disjoint_merge`).
 */
const electAndMerge = (tasks: ReadonlyArray<Float32Array>, weights: ReadonlyArray<number>, method: MajoritySignMethod): Float32Array => {
  const n = tasks[0]?.length ?? 0;
  const out = new Float32Array(n);
  const w = Float32Array.from(weights);
  const acc = new Float32Array(1);
  for (let i = 0; i < n; i++) {
    acc[0] = 0;
    for (const t of tasks) acc[0] = (acc[0] as number) + (method === "total" ? (t[i] as number) : Math.sign(t[i] as number));
    const major = (acc[0] as number) >= 0 ? 1 : -1;
    acc[0] = 0;
    let kept = 0;
    tasks.forEach((t, ti) => {
      if (Math.sign(t[i] as number) !== major) return;
      acc[0] = (acc[0] as number) + Math.fround((t[i] as number) * (w[ti] as number));
      kept++;
    });
    out[i] = (acc[0] as number) / Math.max(kept, 1);
  }
  return out;
};

/** Magnitude-prune each task, then task arithmetic (PEFT's `magnitude_prune`). */
export const magnitudePrune = (tasks: ReadonlyArray<Float32Array>, weights: ReadonlyArray<number>, density: number): Float32Array =>
  taskArithmetic(tasks.map((t) => magnitudePruned(t, density)), weights);

/** Magnitude-prune, elect signs, disjoint merge (PEFT's `ties`). */
export const ties = (
  tasks: ReadonlyArray<Float32Array>,
  weights: ReadonlyArray<number>,
  density: number,
  method: MajoritySignMethod = "total",
): Float32Array => electAndMerge(tasks.map((t) => magnitudePruned(t, density)), weights, method);

/** Random-prune with rescaling, then task arithmetic (PEFT's `dare_linear`). */
export const dareLinear = (tasks: ReadonlyArray<Float32Array>, weights: ReadonlyArray<number>, density: number, rand: () => number): Float32Array =>
  taskArithmetic(tasks.map((t) => randomPruned(t, density, rand)), weights);

/** Random-prune with rescaling, elect signs, disjoint merge (PEFT's `dare_ties`). */
export const dareTies = (
  tasks: ReadonlyArray<Float32Array>,
  weights: ReadonlyArray<number>,
  density: number,
  rand: () => number,
  method: MajoritySignMethod = "total",
): Float32Array => electAndMerge(tasks.map((t) => randomPruned(t, density, rand)), weights, method);

/**
 * torch's `quantile(x, q)` (linear interpolation between the two nearest
 * order statistics).
 */
export const quantile = (x: ArrayLike<number>, q: number): number => {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const s = Float64Array.from(x).sort();
  if (s.length === 0) return NaN;
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
};
