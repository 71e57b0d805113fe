/**
 * The lens laws for `at`/`param`, the parameter-fold laws, and proof that the
 * predicates can fail: broken lenses make them return false and the
 * fast-check wrappers throw.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as O from "fp-ts/lib/Option.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  at,
  deepCopy,
  disposeTree,
  fromLayers,
  inject,
  lora,
  loraConfig,
  node,
  param,
  setAt,
  setTrainable,
  type Node,
  type Optional,
} from "../../src/index.js";
import {
  arbTreeSpec,
  buildTree,
  eqTensorRef,
  eqTree,
  lens,
  lensLawsAt,
  lensLawsParam,
  optionalLawsFor,
  sameTree,
  tree as treePredicates,
  treeDiff,
  treeLaws,
} from "../../laws/index.js";
import { failure, mlpSpecs } from "./models.js";


const leakFree = <A>(f: () => A): A => {
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors).toBe(before);
  return out;
};

describe("lens laws", () => {
  it("at(path) keeps get-set / set-get / set-set on arbitrary trees", () => leakFree(() => lensLawsAt(at, { numRuns: 50 })));

  it("param(name) (composed after at(path)) keeps the laws", () => leakFree(() => lensLawsParam(undefined, { numRuns: 50 })));

  it("holds for a plain-data optional too (the generic wrapper)", () => {
    const first: Optional<ReadonlyArray<number>, number> = {
      getOption: (s) => O.fromNullable(s[0]),
      set: (a) => (s) => (s.length === 0 ? s : [a, ...s.slice(1)]),
    };
    optionalLawsFor(first, fc.array(fc.integer()), fc.integer(), { equals: (x, y) => x.length === y.length && x.every((v, i) => v === y[i]) }, { equals: (x, y) => x === y }, { numRuns: 50 });
  });
});

describe("the lens laws can fail", () => {
  /** A `set` that ignores its argument. */
  const ignoring = (path: ReadonlyArray<string>): Optional<Node, Node> => ({ getOption: at(path).getOption, set: () => (s) => s });
  /** A `set` that stores a copy (fresh tensors) of what it is given. */
  const copying = (path: ReadonlyArray<string>): Optional<Node, Node> => ({
    getOption: at(path).getOption,
    set: (a) => (s) => setAt(s, path, deepCopy(a, false)),
  });

  it("a set that ignores its argument breaks set-get", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const mlp1 = fromLayers(mlpSpecs, 1);
      const other = mlp1.children["lin0"] as Node;
      try {
        expect(lens.getSet(ignoring(["lin0"]), eqTree)(mlp)).toBe(true); // vacuously fine…
        expect(lens.setGet(ignoring(["lin0"]), eqTree)(mlp, other)).toBe(false); // …but set-get sees it
        expect(lens.setGet(at(["lin0"]), eqTree)(mlp, other)).toBe(true);
      } finally {
        disposeTree(mlp);
        disposeTree(mlp1);
      }
    }));

  it("a set that copies tensors breaks get-set and set-get (identity, not values)", () => {
    const before = tf.memory().numTensors;
    const mlp = fromLayers(mlpSpecs, 0);
    const lin0 = mlp.children["lin0"] as Node;
    tf.tidy(() => {
      // the copies are made inside the tidy and freed with it
      expect(lens.getSet(copying(["lin0"]), eqTree)(mlp)).toBe(false);
      expect(lens.setGet(copying(["lin0"]), eqTree)(mlp, lin0)).toBe(false);
      expect(lens.getSet(at(["lin0"]), eqTree)(mlp)).toBe(true);
    });
    disposeTree(mlp);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the fast-check wrapper throws for both broken lenses", () => {
    expect(failure(() => lensLawsAt(ignoring, { numRuns: 30 }))).toMatch(/set-get fails for at\(/);
    const before = tf.memory().numTensors;
    expect(failure(() => tf.tidy(() => lensLawsAt(copying, { numRuns: 30 })))).toMatch(/(get-set|set-get|set-set) fails for at\(/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a param lens that clones breaks the tensor-identity law", () => {
    const cloning = (path: ReadonlyArray<string>, name: string): Optional<Node, tf.Tensor> => ({
      getOption: (s) => O.chain(param(name).getOption)(at(path).getOption(s)),
      set: (a) => (s) => O.match(() => s, (n: Node) => setAt(s, path, param(name).set(tf.clone(a))(n)))(at(path).getOption(s)),
    });
    const before = tf.memory().numTensors;
    expect(failure(() => tf.tidy(() => lensLawsParam(cloning, { numRuns: 30 })))).toMatch(/(get-set|set-get) fails for param '/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("tree laws", () => {
  it("state dict, partition/combine, exact partition and ownership on arbitrary trees", () =>
    leakFree(() => treeLaws({ numRuns: 50 })));

  it("hold on adapted models (trainable adapter params, frozen base)", () =>
    leakFree(() =>
      treeLaws({
        numRuns: 10,
        trees: fc
          .record({ seed: fc.nat(100), r: fc.integer({ min: 1, max: 4 }), targets: fc.constantFrom(["lin0"], ["lin0", "lin1"]) })
          .map(({ seed, r, targets }) => () => {
            const base = fromLayers(mlpSpecs, seed);
            return inject(base, lora, loraConfig({ r, targetModules: targets, modulesToSave: targets.length === 1 ? ["lin1"] : null }));
          }),
      }),
    ));

  it("the predicates notice a tree whose loaded tensors are copies", () =>
    leakFree(() => {
      const spec = fc.sample(arbTreeSpec({ maxDepth: 1 }).filter((s) => s.params.length > 0), { numRuns: 1, seed: 3 })[0];
      if (spec === undefined) throw new Error("no sample");
      const t = buildTree(spec, 0);
      const copy = deepCopy(t, false);
      try {
        expect(treePredicates.stateDictRoundTrip(t)).toBe(true);
        expect(sameTree(copy, t)).toBe(false);
        expect(treeDiff(copy, t)).toMatch(/different tensor objects/);
      } finally {
        disposeTree(t);
        disposeTree(copy);
      }
    }));

  it("sameTree compares meta deeply and trainable marks count", () =>
    leakFree(() => {
      const w = tf.zeros([2, 2]);
      const a = node("linear", { params: { weight: w }, meta: { inFeatures: 2, extra: { xs: [1, 2] } } });
      const b = node("linear", { params: { weight: w }, meta: { inFeatures: 2, extra: { xs: [1, 2] } } });
      const c = node("linear", { params: { weight: w }, meta: { inFeatures: 2, extra: { xs: [1, 3] } } });
      expect(sameTree(a, b)).toBe(true);
      expect(treeDiff(a, c)).toMatch(/extra\.xs\[1\]/);
      expect(sameTree(setTrainable(a, true), a)).toBe(false);
      expect(eqTensorRef.equals(w, w)).toBe(true);
      w.dispose();
    }));
});
