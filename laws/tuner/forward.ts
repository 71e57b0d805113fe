/**
 * Tuner laws (1)–(3), about the forward: a fresh identity init is the base,
 * disabled adapters give the base, and merging keeps the forward.
 */
import * as E from "fp-ts/lib/Either.js";
import type { BaseConfig } from "../../src/tuners/config.js";
import { inject } from "../../src/peft/inject.js";
import { mergeAndUnload } from "../../src/peft/merge.js";
import { disableAdapters } from "../../src/peft/adapters.js";
import { fail, pass, type LawResult, type TunerLawEnv } from "./env.js";
import { adapt, all, close, exact, isResult, leakChecked, mergeOrFail, run, tunersWith } from "./harness.js";

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
