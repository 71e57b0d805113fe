/**
 * The tuner laws' harness: an arena that frees what a law made, the leak
 * check around a law body, the forward and its comparisons (approximate and
 * bit for bit), and building a non-trivial adapter (inject, perturb, merge).
 */
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../src/tree/node.js";
import { loadStateDict } from "../../src/tree/params.js";
import { tensorsOf } from "../../src/tree/dispose.js";
import { split } from "../../src/nn/init.js";
import { extendKinds, type Kinds } from "../../src/nn/registry.js";
import { apply, builtinKinds } from "../../src/apply.js";
import { builtinTuners, tunerLayerKind } from "../../src/tuners/index.js";
import type { BaseConfig } from "../../src/tuners/config.js";
import type { AnyTuner } from "../../src/tuners/types.js";
import { inject } from "../../src/peft/inject.js";
import { merge } from "../../src/peft/merge.js";
import { adapterTensors } from "../../src/io/adapter-keys.js";
import { allClose, sameBits, type Tolerance } from "../eq.js";
import { fail, pass, type LawResult, type TunerLawEnv } from "./env.js";

/** Tensors and trees a law makes, freed together at the end; the caller's are kept. */
export class Arena {
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
export const leakChecked = <C extends BaseConfig>(name: string, env: TunerLawEnv<C>, body: (a: Arena) => LawResult): LawResult => {
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

export const leakCheckedAsync = async <C extends BaseConfig>(
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

export const run = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, model: Node): tf.Tensor =>
  arena.tensor(apply(model, env.input, { kinds: kindsWith(env.tuner, env.kinds), side: env.side ?? {} }));

/**
 * Approximate equality of two forwards. `atol` is scaled by the output's
 * largest magnitude (at least 1): float32 results built from terms of size M
 * carry rounding errors of order ε·M, so an element that nearly cancels can
 * miss a fixed atol although both sides are equally right.
 */
export const close = (what: string, got: tf.Tensor, want: tf.Tensor, tol: Tolerance): LawResult => {
  const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(want)).dataSync()[0] as number));
  const c = allClose(got, want, { atol: tol.atol * scale, rtol: tol.rtol });
  return c.ok ? pass : fail(`${what}: max error ${c.maxError.toExponential(3)} (${c.detail})`);
};

export const exact = (what: string, got: tf.Tensor, want: tf.Tensor): LawResult => {
  if (sameBits(got, want)) return pass;
  const c = allClose(got, want, { atol: 0, rtol: 0 });
  return fail(`${what}: not bit-identical (max error ${c.maxError.toExponential(3)}; ${c.detail})`);
};

export const all = (...rs: ReadonlyArray<() => LawResult>): LawResult => {
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

export const adapt = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, from: Node, config: C, name: string): Node => {
  const injected = arena.tree(inject(from, env.tuner, config, { adapterName: name, seed: env.seed ?? 0 }));
  return arena.tree(perturbAdapter(injected, name, env.seed ?? 0, env.perturb ?? 0.1));
};

export const mergeOrFail = <C extends BaseConfig>(env: TunerLawEnv<C>, arena: Arena, t: Node, adapters?: ReadonlyArray<string>): Node | LawResult => {
  const r = merge(t, { tuners: tunersWith(env.tuner), ...(adapters === undefined ? {} : { adapters }) });
  return E.isLeft(r) ? fail(`merge refused: ${r.left.message}`) : arena.tree(r.right);
};

export const isResult = (x: Node | LawResult): x is LawResult => "ok" in x;
