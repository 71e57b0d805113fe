/**
 * `peft-ts/laws`: the library's algebraic promises as fast-check suites
 * (fp-ts-laws's two layers). The pure predicates live in `./lens.ts`,
 * `./tree.ts`, `./tuner.ts` and `./codec.ts`; this module wraps them with
 * arbitraries and `fc.assert`, so checking your own tuner is one line:
 *
 * @example
 *   import { tunerLaws } from "peft-ts/laws";
 *   it("my tuner keeps the laws", () => tunerLaws(myTuner, arbMyConfig, arbMyModel));
 *
 * Every wrapper also checks that `tf.memory().numTensors` is where it was
 * after each run (no leaks), and throws fast-check's report (with the law's
 * message) when a law fails.
 */
import * as fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import type { Eq } from "fp-ts/lib/Eq.js";
import type * as t from "io-ts";
import type { Node } from "../src/tree/node.js";
import { at as atOptic, compose, nodes, param as paramOptic, type Optional } from "../src/tree/optics.js";
import { paramEntries } from "../src/tree/params.js";
import { disposeTree } from "../src/tree/dispose.js";
import type { Path } from "../src/tree/path.js";
import type { BaseConfig, ConfigOf, Fields, JsonConfig } from "../src/tuners/config.js";
import { defaultsOf } from "../src/tuners/config.js";
import type { Tuner } from "../src/tuners/types.js";
import { eqTensorRef, eqTree } from "./eq.js";
import { optionalLaws } from "./lens.js";
import { ownershipIsConsistent, partitionCombine, partitionIsExact, stateDictRoundTrip } from "./tree.js";
import { arbTreeSpec, buildTree, type TreeSpecOptions } from "./nodes.js";
import { arbConfigOf, arbitraryOf, type ArbitraryOptions } from "./arbitrary.js";
import { decodeEncode, defaultsFill, jsonRoundTrip } from "./codec.js";
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
} from "./tuner.js";

export * from "./eq.js";
export * as lens from "./lens.js";
export * as tree from "./tree.js";
export * as tuner from "./tuner.js";
export * as codec from "./codec.js";
export * from "./arbitrary.js";
export * from "./nodes.js";
export { perturbAdapter, tunerLawNames, type LawResult, type ModelCase, type TunerLawEnv, type TunerLawName } from "./tuner.js";
export * from "./safetensors.js";

// -------------------------------------------------------------------------------------
// shared
// -------------------------------------------------------------------------------------

/** How many runs, and a fixed seed to replay a failure. */
export interface RunOptions {
  /** Runs per law. Default 25. */
  readonly numRuns?: number;
  readonly seed?: number;
}

const params = (o: RunOptions): fc.Parameters<unknown> => ({
  numRuns: o.numRuns ?? 25,
  ...(o.seed === undefined ? {} : { seed: o.seed }),
});

/** Run `f`, then check the tensor count came back; throw on a failed law or a leak. */
const counted = (what: string, f: () => string | undefined): true => {
  const before = tf.memory().numTensors;
  const failed = f();
  if (failed !== undefined) throw new Error(`${what}: ${failed}`);
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${what}: leaked ${after - before} tensors (${before} → ${after})`);
  return true;
};

// -------------------------------------------------------------------------------------
// lenses
// -------------------------------------------------------------------------------------

/** Options of the lens laws: runs plus the shape of the arbitrary trees. */
export interface LensLawOptions extends RunOptions, TreeSpecOptions {}

/**
 * get-set / set-get / set-set for `at(path)` over arbitrary trees and paths
 * that exist, with arbitrary replacement subtrees; trees are compared with
 * `sameTree` (same structure, the same tensor objects, deep-equal meta).
 * Pass another optic factory to check it instead of `at`.
 *
 * @example
 *   lensLawsAt()                                   // the library's `at`
 *   expect(() => lensLawsAt(brokenAt)).toThrow()   // a lens that copies tensors fails
 */
export const lensLawsAt = (optic: (path: Path) => Optional<Node, Node> = atOptic, options: LensLawOptions = {}): void =>
  fc.assert(
    fc.property(arbTreeSpec(options), fc.nat(), arbTreeSpec({ ...options, maxDepth: 1 }), arbTreeSpec({ ...options, maxDepth: 1 }), fc.nat(), (spec, i, bs, cs, seed) =>
      counted("at", () => {
        const s = buildTree(spec, seed);
        const b = buildTree(bs, seed + 1);
        const c = buildTree(cs, seed + 2);
        try {
          const all = nodes(s);
          const [path] = all[i % all.length] as readonly [Path, Node];
          const failed = optionalLaws(optic(path), eqTree, eqTree)(s, b, c);
          return failed === undefined ? undefined : `${failed} fails for at([${path.join(", ")}])`;
        } finally {
          for (const x of [s, b, c]) disposeTree(x);
        }
      }),
    ),
    params(options),
  );

/**
 * get-set / set-get / set-set for `param(name)` composed after `at(path)`
 * (the focus on one tensor of a tree), over params that exist; the focus is
 * compared by identity. Pass another factory to check it instead.
 *
 * @example
 *   lensLawsParam()
 */
export const lensLawsParam = (
  optic: (path: Path, name: string) => Optional<Node, tf.Tensor> = (path, name) =>
    path.length === 0 ? paramOptic(name) : compose(paramOptic(name))(atOptic(path)),
  options: LensLawOptions = {},
): void =>
  fc.assert(
    fc.property(arbTreeSpec(options), fc.nat(), fc.nat(), (spec, i, seed) =>
      counted("param", () => {
        const s = buildTree(spec, seed);
        const b = tf.randomUniform([2], 0, 1, "float32", seed + 1);
        const c = tf.randomUniform([1, 3], 0, 1, "float32", seed + 2);
        try {
          const entries = paramEntries(s);
          if (entries.length === 0) return undefined;
          const e = entries[i % entries.length] as (typeof entries)[number];
          const failed = optionalLaws(optic(e.path, e.name), eqTree, eqTensorRef)(s, b, c);
          return failed === undefined ? undefined : `${failed} fails for param '${e.key}'`;
        } finally {
          disposeTree(s);
          b.dispose();
          c.dispose();
        }
      }),
    ),
    params(options),
  );

/**
 * The optional laws for any optic over plain (tensor-free) data.
 *
 * @example
 *   optionalLawsFor(myOptional, arbS, arbA, eqS, eqA)
 */
export const optionalLawsFor = <S, A>(
  o: Optional<S, A>,
  arbS: fc.Arbitrary<S>,
  arbA: fc.Arbitrary<A>,
  eqS: Eq<S>,
  eqA: Eq<A>,
  options: RunOptions = {},
): void =>
  fc.assert(
    fc.property(arbS, arbA, arbA, (s, b, c) => {
      const failed = optionalLaws(o, eqS, eqA)(s, b, c);
      if (failed !== undefined) throw new Error(`${failed} fails`);
      return true;
    }),
    params(options),
  );

// -------------------------------------------------------------------------------------
// trees
// -------------------------------------------------------------------------------------

/** Options of {@link treeLaws}. */
export interface TreeLawOptions extends RunOptions, TreeSpecOptions {
  /** Trees to check, as thunks that build fresh tensors (default: arbitrary trees). */
  readonly trees?: fc.Arbitrary<() => Node>;
}

/**
 * The parameter-fold laws (state dict round trip, partition/combine, exact
 * partition, ownership) over arbitrary trees — or the trees you give.
 *
 * @example
 *   treeLaws()
 *   treeLaws({ trees: fc.constant(() => inject(fromLayers(specs), lora, cfg)) })
 */
export const treeLaws = (options: TreeLawOptions = {}): void => {
  const trees = options.trees ?? fc.tuple(arbTreeSpec(options), fc.nat()).map(([spec, seed]) => () => buildTree(spec, seed));
  const laws: ReadonlyArray<readonly [string, (t: Node) => boolean]> = [
    ["loadStateDict(t, toStateDict(t)) ≡ t", stateDictRoundTrip],
    ["combine(t, partition(t)) ≡ t", partitionCombine],
    ["partition(t) is exact", partitionIsExact],
    ["ownership is consistent", ownershipIsConsistent],
  ];
  fc.assert(
    fc.property(trees, (make) =>
      counted("tree", () => {
        const tr = make();
        try {
          const bad = laws.find(([, law]) => !law(tr));
          return bad === undefined ? undefined : `${bad[0]} fails`;
        } finally {
          disposeTree(tr);
        }
      }),
    ),
    params(options),
  );
};

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/** Options of the codec laws. */
export interface CodecLawOptions extends RunOptions, ArbitraryOptions {
  /** Also check the JSON text round trip. Default true. */
  readonly json?: boolean;
}

/**
 * decode ∘ encode = id (and through JSON text) for an io-ts codec, on values
 * from an arbitrary derived from the codec itself (or one you pass).
 *
 * @example
 *   codecLaws(LayerSpec)
 */
export const codecLaws = <A, O>(codec: t.Type<A, O, unknown>, arb?: fc.Arbitrary<A>, options: CodecLawOptions = {}): void => {
  const values = arb ?? arbitraryOf(codec, options);
  fc.assert(
    fc.property(values, (a) => {
      if (!decodeEncode(codec)(a)) throw new Error(`decode(encode(a)) ≠ a for ${JSON.stringify(a)}`);
      if ((options.json ?? true) && !jsonRoundTrip(codec)(a)) throw new Error(`JSON round trip changes ${JSON.stringify(a)}`);
      return true;
    }),
    params(options),
  );
};

/**
 * The laws of a config codec built from a field table: decode ∘ encode = id,
 * through JSON too, on configs derived from each field's codec (unknown keys
 * in `extra` included); absent fields decode to their defaults; the defaults
 * round-trip.
 *
 * @example
 *   configCodecLaws(LoraConfig, loraFields)
 */
export const configCodecLaws = <F extends Fields>(
  codec: t.Type<ConfigOf<F>, JsonConfig, unknown>,
  fields: F,
  options: CodecLawOptions = {},
): void => {
  if (!decodeEncode(codec)(defaultsOf(fields))) throw new Error(`${codec.name}: the defaults do not round-trip`);
  const names = Object.keys(fields) as Array<keyof F & string>;
  fc.assert(
    fc.property(arbConfigOf(fields, options), fc.subarray(names, { maxLength: Math.min(4, names.length) }), (c, drop) => {
      if (!decodeEncode(codec)(c)) throw new Error(`decode(encode(c)) ≠ c for ${JSON.stringify(codec.encode(c))}`);
      if ((options.json ?? true) && !jsonRoundTrip(codec)(c)) throw new Error(`JSON round trip changes ${JSON.stringify(codec.encode(c))}`);
      if (!defaultsFill(codec, fields)(c, drop)) throw new Error(`dropping [${drop.join(", ")}] does not give their defaults`);
      return true;
    }),
    params(options),
  );
};

// -------------------------------------------------------------------------------------
// tuners
// -------------------------------------------------------------------------------------

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
