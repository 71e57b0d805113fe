/**
 * The tuner laws as fast-check suites: one property per law over arbitrary
 * configs and model cases ({@link tunerProperties}), or all of them at once
 * ({@link tunerLaws}).
 */
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../src/tree/node.js";
import { disposeTree } from "../../src/tree/dispose.js";
import type { BaseConfig } from "../../src/tuners/config.js";
import type { Tuner } from "../../src/tuners/types.js";
import {
  disabledIsBase,
  freshInitIsIdentity,
  loadSaveIsIdentity,
  mergeIsIdempotent,
  mergeKeepsForward,
  mergesCommute,
  tunerLawNames,
  unloadInjectIsIdentity,
  unmergeMergeIsIdentity,
  type LawResult,
  type ModelCase,
  type TunerLawEnv,
  type TunerLawName,
} from "../tuner.js";
import { params, type RunOptions } from "./run.js";

/** Configs, possibly depending on the model (its module names). */
export type ConfigArbitrary<C> = fc.Arbitrary<C> | ((model: ModelCase) => fc.Arbitrary<C>);

/** Options of the tuner laws. */
export interface TunerLawOptions<C extends BaseConfig> extends RunOptions {
  /** Law 1's config: one whose fresh init is the identity (LoRA: `initLoraWeights: true`). Default: as generated. */
  readonly identityInit?: (c: C) => C;
  /** The other laws' config: one whose fresh init is not a no-op (LoRA: `initLoraWeights: false`). Default: as generated. */
  readonly nonTrivial?: (c: C) => C;
  /** Std of the noise added to every adapter tensor before laws 2–8. Default 0.1; 0: none. */
  readonly perturb?: number;
  /** Laws not to run. */
  readonly skip?: ReadonlyArray<TunerLawName>;
  /** The domain of law 8 (default: every pair), e.g. `(a, b) => !a.useDora && !b.useDora`. */
  readonly mergeCommutes?: (a: C, b: C) => boolean;
  /** Adapter names the laws use (default `["default", "other"]`: `other` is saved in `dir/other`). */
  readonly adapterNames?: ReadonlyArray<string>;
}

/** One fast-check property per tuner law (`loadSave` is async). */
export type TunerProperties = Readonly<Record<TunerLawName, fc.IRawProperty<any, boolean>>>;

/**
 * The tuner laws as fast-check properties, to run one by one.
 *
 * @example
 *   const props = tunerProperties(lora, arbCfg, arbMlp)
 *   await fc.assert(props.unmergeMerge, { numRuns: 20 })
 */
export const tunerProperties = <C extends BaseConfig>(
  tuner: Tuner<C>,
  arbConfig: ConfigArbitrary<C>,
  arbModel: fc.Arbitrary<ModelCase>,
  options: TunerLawOptions<C> = {},
): TunerProperties => {
  const cfgOf = (m: ModelCase): fc.Arbitrary<C> => (typeof arbConfig === "function" ? arbConfig(m) : arbConfig);
  const one = arbModel.chain((m) => cfgOf(m).map((c) => ({ m, c })));
  const two = arbModel.chain((m) =>
    fc.tuple(cfgOf(m), cfgOf(m)).map(([c, d]) => ({ m, c, d })),
  );
  const names = fc.constantFrom(...(options.adapterNames ?? ["default", "other"]));
  const identity = options.identityInit ?? ((c: C) => c);
  const nonTrivial = options.nonTrivial ?? ((c: C) => c);
  const envOf = (m: ModelCase, config: C, base: Node, input: tf.Tensor, seed: number, adapterName: string): TunerLawEnv<C> => ({
    tuner,
    config,
    base,
    input,
    seed,
    adapterName,
    ...(m.side === undefined ? {} : { side: m.side }),
    ...(m.kinds === undefined ? {} : { kinds: m.kinds }),
    ...(options.perturb === undefined ? {} : { perturb: options.perturb }),
  });
  const open = (m: ModelCase): { base: Node; input: tf.Tensor; close: () => void } => {
    const base = m.model();
    const input = m.input();
    return { base, input, close: () => (disposeTree(base), input.dispose()) };
  };
  const verdict = (m: ModelCase, before: number, r: LawResult): true => {
    if (!r.ok) throw new Error(`[${tuner.peftType} on ${m.name}] ${r.message}`);
    const after = tf.memory().numTensors;
    if (after !== before) throw new Error(`[${tuner.peftType} on ${m.name}] leaked ${after - before} tensors`);
    return true;
  };
  const sync = (law: (env: TunerLawEnv<C>) => LawResult, cfg: (c: C) => C) =>
    fc.property(one, fc.nat(), names, ({ m, c }, seed, name) => {
      const before = tf.memory().numTensors;
      const o = open(m);
      let r: LawResult;
      try {
        r = law(envOf(m, cfg(c), o.base, o.input, seed, name));
      } finally {
        o.close();
      }
      return verdict(m, before, r);
    });
  return {
    freshInit: sync(freshInitIsIdentity, identity),
    disabled: sync(disabledIsBase, nonTrivial),
    mergeForward: sync(mergeKeepsForward, nonTrivial),
    unmergeMerge: sync(unmergeMergeIsIdentity, nonTrivial),
    mergeIdempotent: sync(mergeIsIdempotent, nonTrivial),
    unloadInject: sync(unloadInjectIsIdentity, nonTrivial),
    loadSave: fc.asyncProperty(one, fc.nat(), names, async ({ m, c }, seed, name) => {
      const before = tf.memory().numTensors;
      const o = open(m);
      let r: LawResult;
      try {
        r = await loadSaveIsIdentity(envOf(m, nonTrivial(c), o.base, o.input, seed, name));
      } finally {
        o.close();
      }
      return verdict(m, before, r);
    }),
    mergeCommutes: fc.property(two, fc.nat(), ({ m, c, d }, seed) => {
      const a = nonTrivial(c);
      const b = nonTrivial(d);
      if (options.mergeCommutes !== undefined && !options.mergeCommutes(a, b)) return true;
      const before = tf.memory().numTensors;
      const o = open(m);
      let r: LawResult;
      try {
        r = mergesCommute(envOf(m, a, o.base, o.input, seed, "default"), b);
      } finally {
        o.close();
      }
      return verdict(m, before, r);
    }),
  };
};

/**
 * Every tuner law, for a tuner, its configs and models: fresh init ⇒ base,
 * disabled ⇒ base, forward∘merge ≈ forward, unmerge∘merge ≡ id (exactly),
 * merge idempotent, unload∘inject ≡ id, load∘save = id, merges commute, and
 * no leaks in any of them.
 *
 * @example
 *   await tunerLaws(lora, arbLoraConfig, arbMlp, { identityInit: (c) => ({ ...c, initLoraWeights: true }) })
 */
export const tunerLaws = async <C extends BaseConfig>(
  tuner: Tuner<C>,
  arbConfig: ConfigArbitrary<C>,
  arbModel: fc.Arbitrary<ModelCase>,
  options: TunerLawOptions<C> = {},
): Promise<void> => {
  const props = tunerProperties(tuner, arbConfig, arbModel, options);
  for (const name of tunerLawNames) {
    if (options.skip?.includes(name)) continue;
    await fc.assert(props[name], params(options));
  }
};
