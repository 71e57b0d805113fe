/**
 * Tuner laws (4)–(6) and (8), about the tree under merge and unload:
 * unmerge∘merge ≡ id, merge is idempotent, unload∘inject ≡ id, and merges
 * commute.
 */
import type { BaseConfig } from "../../src/tuners/config.js";
import { unload, unmerge } from "../../src/peft/merge.js";
import { treeDiff } from "../eq.js";
import { fail, pass, type LawResult, type TunerLawEnv } from "./env.js";
import { adapt, close, isResult, leakChecked, mergeOrFail, run } from "./harness.js";

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
