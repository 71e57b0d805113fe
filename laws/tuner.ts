/**
 * Laws every tuner keeps, as pure predicates over one tuner, config, base
 * model and input (DESIGN.md "Laws are the spec"). Each returns a
 * {@link LawResult} naming what went wrong, and each checks that it leaves
 * `tf.memory().numTensors` where it found it (law 8): a law body frees every
 * tensor it made, whether it passes or not.
 *
 *  1. freshInit       inject with an identity init ⇒ forward = base forward
 *  2. disabled        disableAdapters(adapted) ⇒ base forward, merged or not
 *                     (the adapter is perturbed so it is not a no-op; only
 *                     adapter tensors are perturbed: biases trained through
 *                     `bias="all"|"lora_only"` stay trained when disabled, by
 *                     PEFT's design, so they are outside this law)
 *  3. mergeForward    forward(merge(t)) ≈ forward(t), and so does mergeAndUnload,
 *                     within `tuner.tolerance`
 *  4. unmergeMerge    unmerge(merge(t)) ≡ t — the very same tensors, exactly
 *  5. mergeIdempotent merge(merge(t)) ≡ merge(t)
 *  6. unloadInject    unload(inject(m)) ≡ m, and unload(merge(inject(m))) ≡ m
 *                     (for base models whose params are all frozen, as loaded:
 *                     inject freezes the base)
 *  7. loadSave        loadAdapter(base, saveAdapter(t)) has t's forward bit for
 *                     bit, every adapter tensor bit for bit, and t's config
 *  8. mergeCommutes   merging a then b ≈ merging b then a (forward)
 *  (and no leaks, in every one of them)
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../src/tree/node.js";
import { loadStateDict } from "../src/tree/params.js";
import { tensorsOf } from "../src/tree/dispose.js";
import { split } from "../src/nn/init.js";
import { extendKinds, type Kinds } from "../src/nn/registry.js";
import { apply, builtinKinds } from "../src/apply.js";
import { builtinTuners, tunerLayerKind } from "../src/tuners/index.js";
import type { BaseConfig } from "../src/tuners/config.js";
import type { AnyTuner, Tuner } from "../src/tuners/types.js";
import { inject } from "../src/peft/inject.js";
import { merge, mergeAndUnload, unload, unmerge } from "../src/peft/merge.js";
import { disableAdapters } from "../src/peft/adapters.js";
import { adapterEntry } from "../src/peft/state.js";
import { adapterTensors } from "../src/io/adapter-keys.js";
import { adapterDir, loadAdapter, saveAdapter } from "../src/io/adapter.js";
import { allClose, deepEqual, sameBits, treeDiff, type Tolerance } from "./eq.js";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A base model and an input for it. Both are built on demand so a property
 * owns (and frees) fresh tensors on every run.
 *
 * @example
 *   const mlpCase: ModelCase = { name: "mlp", model: () => fromLayers(specs, 0), input: () => tf.randomNormal([2, 10]) }
 */
export interface ModelCase {
  readonly name: string;
  readonly model: () => Node;
  readonly input: () => tf.Tensor;
  /** Side inputs for `apply` (attention masks…). */
  readonly side?: Readonly<Record<string, unknown>>;
  /** Kinds beyond the built-in ones (a custom architecture's). */
  readonly kinds?: Kinds;
}

/** The verdict of a law: `ok`, or what went wrong. */
export interface LawResult {
  readonly ok: boolean;
  readonly message: string;
}

export const pass: LawResult = { ok: true, message: "" };
export const fail = (message: string): LawResult => ({ ok: false, message });

/** Everything a tuner law needs. `base` and `input` belong to the caller and are never disposed. */
export interface TunerLawEnv<C extends BaseConfig> {
  readonly tuner: Tuner<C>;
  readonly config: C;
  readonly base: Node;
  readonly input: tf.Tensor;
  readonly side?: Readonly<Record<string, unknown>>;
  /** Kinds beyond the built-in ones and the tuner's layer kind. */
  readonly kinds?: Kinds;
  /** Seed of the adapter init and perturbation. Default 0. */
  readonly seed?: number;
  /** Std of the noise added to every adapter tensor so it is not a no-op. Default 0.1; 0: none. */
  readonly perturb?: number;
  /** The adapter's name. Default `"default"`. */
  readonly adapterName?: string;
}

/** The names of the tuner laws. */
export type TunerLawName =
  | "freshInit"
  | "disabled"
  | "mergeForward"
  | "unmergeMerge"
  | "mergeIdempotent"
  | "unloadInject"
  | "loadSave"
  | "mergeCommutes";

export const tunerLawNames: ReadonlyArray<TunerLawName> = [
  "freshInit",
  "disabled",
  "mergeForward",
  "unmergeMerge",
  "mergeIdempotent",
  "unloadInject",
  "loadSave",
  "mergeCommutes",
];

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Tensors and trees a law makes, freed together at the end; the caller's are kept. */
class Arena {
  private readonly trees: Node[] = [];
  private readonly loose: tf.Tensor[] = [];
  constructor(private readonly keep: ReadonlySet<tf.Tensor>) {}
  tree<N extends Node>(t: N): N {
    this.trees.push(t);
    return t;
  }
  tensor(t: tf.Tensor): tf.Tensor {
    this.loose.push(t);
    return t;
  }
  free(): void {
    for (const t of this.trees) for (const x of tensorsOf(t)) if (!this.keep.has(x) && !x.isDisposed) x.dispose();
    for (const x of this.loose) if (!this.keep.has(x) && !x.isDisposed) x.dispose();
  }
}

const leak = (name: string, before: number): LawResult | undefined => {
  const after = tf.memory().numTensors;
  return after === before ? undefined : fail(`${name}: tf.memory().numTensors went from ${before} to ${after} (${after - before > 0 ? "leaked" : "freed"} ${Math.abs(after - before)})`);
};

/**
 * Run a law body with an arena, free what it made, and fail on a leak.
 *
 * @example
 *   leakChecked("mine", env, (arena) => …)
 */
const leakChecked = <C extends BaseConfig>(name: string, env: TunerLawEnv<C>, body: (a: Arena) => LawResult): LawResult => {
  const before = tf.memory().numTensors;
  const arena = new Arena(new Set([...tensorsOf(env.base), env.input]));
  let r: LawResult;
  try {
    r = body(arena);
  } finally {
    arena.free();
  }
  const l = leak(name, before);
  return !r.ok ? { ok: false, message: `${name}: ${r.message}` } : (l ?? pass);
};

const leakCheckedAsync = async <C extends BaseConfig>(
  name: string,
  env: TunerLawEnv<C>,
  body: (a: Arena) => Promise<LawResult>,
): Promise<LawResult> => {
  const before = tf.memory().numTensors;
  const arena = new Arena(new Set([...tensorsOf(env.base), env.input]));
  let r: LawResult;
  try {
    r = await body(arena);
  } finally {
    arena.free();
  }
  const l = leak(name, before);
  return !r.ok ? { ok: false, message: `${name}: ${r.message}` } : (l ?? pass);
};

/** The tuners map `merge`/save/load need: the built-in ones plus this one. */
export const tunersWith = (tuner: AnyTuner): ReadonlyMap<string, AnyTuner> => new Map([...builtinTuners, [tuner.peftType, tuner]]);

/** The kinds `apply` needs: the built-in ones, the model's, and the tuner's layer kind. */
export const kindsWith = (tuner: AnyTuner, extra?: Kinds): Kinds =>
  extendKinds(builtinKinds, ...(extra === undefined ? [] : extra.values()), tunerLayerKind(tuner));

const run = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, model: Node): tf.Tensor =>
  arena.tensor(apply(model, env.input, { kinds: kindsWith(env.tuner, env.kinds), side: env.side ?? {} }));

/**
 * Approximate equality of two forwards. `atol` is scaled by the output's
 * largest magnitude (at least 1): float32 results built from terms of size M
 * carry rounding errors of order ε·M, so an element that nearly cancels can
 * miss a fixed atol although both sides are equally right.
 */
const close = (what: string, got: tf.Tensor, want: tf.Tensor, tol: Tolerance): LawResult => {
  const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(want)).dataSync()[0] as number));
  const c = allClose(got, want, { atol: tol.atol * scale, rtol: tol.rtol });
  return c.ok ? pass : fail(`${what}: max error ${c.maxError.toExponential(3)} (${c.detail})`);
};

const exact = (what: string, got: tf.Tensor, want: tf.Tensor): LawResult => {
  if (sameBits(got, want)) return pass;
  const c = allClose(got, want, { atol: 0, rtol: 0 });
  return fail(`${what}: not bit-identical (max error ${c.maxError.toExponential(3)}; ${c.detail})`);
};

const all = (...rs: ReadonlyArray<() => LawResult>): LawResult => {
  for (const r of rs) {
    const x = r();
    if (!x.ok) return x;
  }
  return pass;
};

/**
 * Add seeded N(0, std²) noise to every float tensor of one adapter (its slot
 * entries and `modules_to_save` copies — never base params or biases), so a
 * fresh adapter stops being a no-op. Returns a new tree; nothing is disposed.
 *
 * @example
 *   const nonTrivial = perturbAdapter(inject(mlp, lora, cfg), "default", 0, 0.1)
 */
export const perturbAdapter = (tree: Node, adapter: string, seed: number, std: number): Node => {
  if (std === 0) return tree;
  const targets = adapterTensors(tree, adapter, "none").filter((t) => t.tensor.dtype === "float32");
  const sd = tf.tidy(() =>
    Object.fromEntries(
      targets.map((t) => [t.treeKey, tf.add(t.tensor, tf.randomNormal([...t.tensor.shape], 0, std, "float32", split(seed, t.treeKey)))]),
    ),
  ) as Record<string, tf.Tensor>;
  const r = loadStateDict(tree, sd, { strict: false });
  if (E.isLeft(r)) {
    tf.dispose(Object.values(sd));
    throw new Error(`perturbAdapter: ${r.left.message}`);
  }
  return r.right;
};

const adapt = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, from: Node, config: C, name: string): Node => {
  const injected = arena.tree(inject(from, env.tuner, config, { adapterName: name, seed: env.seed ?? 0 }));
  return arena.tree(perturbAdapter(injected, name, env.seed ?? 0, env.perturb ?? 0.1));
};

const mergeOrFail = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, t: Node, adapters?: ReadonlyArray<string>): Node | LawResult => {
  const r = merge(t, { tuners: tunersWith(env.tuner), ...(adapters === undefined ? {} : { adapters }) });
  return E.isLeft(r) ? fail(`merge refused: ${r.left.message}`) : arena.tree(r.right);
};

const isResult = (x: Node | LawResult): x is LawResult => "ok" in x;

// -------------------------------------------------------------------------------------
// laws
// -------------------------------------------------------------------------------------

/**
 * (1) A freshly injected adapter whose init is the identity (LoRA's default
 * `init_lora_weights=true`: B = 0) leaves the forward unchanged.
 *
 * @example
 *   freshInitIsIdentity({ tuner: lora, config: loraConfig({ targetModules: ["lin0"] }), base: mlp, input: x })
 */
export const freshInitIsIdentity = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("freshInit", env, (arena) => {
    const injected = arena.tree(inject(env.base, env.tuner, env.config, { adapterName: env.adapterName ?? "default", seed: env.seed ?? 0 }));
    return close("forward(inject(m)) vs forward(m)", run(env, arena, injected), run(env, arena, env.base), env.tuner.tolerance);
  });

/**
 * (2) With adapters disabled the model computes its base output exactly —
 * before and after merging.
 *
 * @example
 *   disabledIsBase({ tuner: lora, config, base: mlp, input: x })
 */
export const disabledIsBase = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("disabled", env, (arena) => {
    const adapted = adapt(env, arena, env.base, env.config, env.adapterName ?? "default");
    const base = run(env, arena, env.base);
    const first = exact("forward(disableAdapters(t)) vs base", run(env, arena, disableAdapters(adapted)), base);
    if (!first.ok || env.tuner.merge === undefined) return first;
    const merged = mergeOrFail(env, arena, adapted);
    if (isResult(merged)) return merged;
    return exact("forward(disableAdapters(merge(t))) vs base", run(env, arena, disableAdapters(merged)), base);
  });

/**
 * (3) Merging keeps the forward, within the tuner's tolerance; so does
 * `mergeAndUnload`.
 *
 * @example
 *   mergeKeepsForward({ tuner: lora, config, base: mlp, input: x })
 */
export const mergeKeepsForward = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("mergeForward", env, (arena) => {
    if (env.tuner.merge === undefined) return pass;
    const adapted = adapt(env, arena, env.base, env.config, env.adapterName ?? "default");
    const want = run(env, arena, adapted);
    const merged = mergeOrFail(env, arena, adapted);
    if (isResult(merged)) return merged;
    const unloaded = mergeAndUnload(adapted, { tuners: tunersWith(env.tuner) });
    if (E.isLeft(unloaded)) return fail(`mergeAndUnload refused: ${unloaded.left.message}`);
    arena.tree(unloaded.right);
    return all(
      () => close("forward(merge(t)) vs forward(t)", run(env, arena, merged), want, env.tuner.tolerance),
      () => close("forward(mergeAndUnload(t)) vs forward(t)", run(env, arena, unloaded.right), want, env.tuner.tolerance),
    );
  });

/**
 * (4) Unmerging a merge gives back the very same tree: every tensor object,
 * every node's meta (the merged layer kept its original).
 *
 * @example
 *   unmergeMergeIsIdentity({ tuner: lora, config, base: mlp, input: x })
 */
export const unmergeMergeIsIdentity = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("unmergeMerge", env, (arena) => {
    if (env.tuner.merge === undefined) return pass;
    const adapted = adapt(env, arena, env.base, env.config, env.adapterName ?? "default");
    const merged = mergeOrFail(env, arena, adapted);
    if (isResult(merged)) return merged;
    const d = treeDiff(unmerge(merged), adapted);
    return d === undefined ? pass : fail(`unmerge(merge(t)) differs from t at ${d}`);
  });

/**
 * (5) Merging what is merged changes nothing (PEFT's
 * `_test_merge_layers_is_idempotent`, without the warning).
 *
 * @example
 *   mergeIsIdempotent({ tuner: lora, config, base: mlp, input: x })
 */
export const mergeIsIdempotent = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("mergeIdempotent", env, (arena) => {
    if (env.tuner.merge === undefined) return pass;
    const adapted = adapt(env, arena, env.base, env.config, env.adapterName ?? "default");
    const once = mergeOrFail(env, arena, adapted);
    if (isResult(once)) return once;
    const twice = mergeOrFail(env, arena, once);
    if (isResult(twice)) return twice;
    const d = treeDiff(twice, once);
    return d === undefined ? pass : fail(`merge(merge(t)) differs from merge(t) at ${d}`);
  });

/**
 * (6) Unloading an injected adapter gives back the base model itself, and so
 * does unloading after a merge (the originals were kept).
 *
 * @example
 *   unloadInjectIsIdentity({ tuner: lora, config, base: mlp, input: x })
 */
export const unloadInjectIsIdentity = <C extends BaseConfig>(env: TunerLawEnv<C>): LawResult =>
  leakChecked("unloadInject", env, (arena) => {
    const adapted = adapt(env, arena, env.base, env.config, env.adapterName ?? "default");
    const d = treeDiff(unload(adapted), env.base);
    if (d !== undefined) return fail(`unload(inject(m)) differs from m at ${d}`);
    if (env.tuner.merge === undefined) return pass;
    const merged = mergeOrFail(env, arena, adapted);
    if (isResult(merged)) return merged;
    const d2 = treeDiff(unload(merged), env.base);
    return d2 === undefined ? pass : fail(`unload(merge(inject(m))) differs from m at ${d2}`);
  });

/**
 * (7) Saving in PEFT's format and loading into the same base model gives the
 * adapter back: the same forward and every adapter tensor bit for bit, and
 * the same config (up to `inference_mode` and `peft_version`, which a save
 * sets as PEFT does).
 *
 * @example
 *   await loadSaveIsIdentity({ tuner: lora, config, base: mlp, input: x })
 */
export const loadSaveIsIdentity = <C extends BaseConfig>(env: TunerLawEnv<C>): Promise<LawResult> =>
  leakCheckedAsync("loadSave", env, async (arena) => {
    const name = env.adapterName ?? "default";
    const tuners = tunersWith(env.tuner);
    const adapted = adapt(env, arena, env.base, env.config, name);
    const tmp = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-ts-law-"));
    try {
      await saveAdapter(adapted, tmp, { adapters: [name], tuners });
      const loaded = arena.tree(await loadAdapter(env.base, adapterDir(tmp, name), { adapterName: name, tuners }));
      const scope = env.tuner.extraTrainable?.(env.config) ?? "none";
      const mine = adapterTensors(adapted, name, scope);
      const back = new Map(adapterTensors(loaded, name, scope).map((t) => [t.fileKey, t.tensor]));
      const keys = (xs: Iterable<string>) => [...xs].sort().join(", ");
      if (keys(mine.map((t) => t.fileKey)) !== keys(back.keys())) {
        return fail(`adapter tensors differ: saved [${keys(mine.map((t) => t.fileKey))}], loaded [${keys(back.keys())}]`);
      }
      for (const t of mine) {
        if (!sameBits(t.tensor, back.get(t.fileKey) as tf.Tensor)) return fail(`${t.fileKey}: loaded tensor differs from the saved one`);
      }
      const norm = (c: BaseConfig) => ({ ...c, inferenceMode: null, peftVersion: null });
      const got = adapterEntry(loaded, name).config;
      if (!deepEqual(norm(got), norm(adapterEntry(adapted, name).config))) {
        return fail(`config differs after load: ${JSON.stringify(norm(got))} vs ${JSON.stringify(norm(adapterEntry(adapted, name).config))}`);
      }
      return exact("forward(load(save(t))) vs forward(t)", run(env, arena, loaded), run(env, arena, adapted));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

/**
 * (8) Two adapters merged one after the other, in either order, give the
 * same forward within the tuner's tolerance. (Not every method commutes:
 * DoRA renormalises the weight, so its merges are outside this law's domain.)
 *
 * @example
 *   mergesCommute({ tuner: lora, config: a, base: mlp, input: x }, b)
 */
export const mergesCommute = <C extends BaseConfig>(env: TunerLawEnv<C>, other: C): LawResult =>
  leakChecked("mergeCommutes", env, (arena) => {
    if (env.tuner.merge === undefined) return pass;
    const a = env.adapterName ?? "default";
    const b = a === "other" ? "second" : "other";
    const t = adapt(env, arena, adapt(env, arena, env.base, env.config, a), other, b);
    const ab0 = mergeOrFail(env, arena, t, [a]);
    if (isResult(ab0)) return ab0;
    const ab = mergeOrFail(env, arena, ab0, [b]);
    if (isResult(ab)) return ab;
    const ba0 = mergeOrFail(env, arena, t, [b]);
    if (isResult(ba0)) return ba0;
    const ba = mergeOrFail(env, arena, ba0, [a]);
    if (isResult(ba)) return ba;
    return close(`forward(merge ${a} then ${b}) vs forward(merge ${b} then ${a})`, run(env, arena, ab), run(env, arena, ba), env.tuner.tolerance);
  });
