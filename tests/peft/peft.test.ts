/**
 * The model-level API: inject (errors, trainable marks, counts), adapters on
 * and off, several adapters, delete, merge (safe merge included), unload.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  activeAdapters,
  adaptedLayers,
  adapterNames,
  apply,
  deleteAdapter,
  disableAdapters,
  disposeReplaced,
  disposeTree,
  enableAdapters,
  formatTrainableParameters,
  fromLayers,
  getAt,
  inject,
  layerAdapters,
  layerMeta,
  layerNorm,
  linear,
  loadStateDict,
  lora,
  loraConfig,
  merge,
  mergeAndUnload,
  nodes,
  partition,
  sequential,
  setAdapter,
  setTrainableAdapters,
  tensorsOf,
  tensorsOnlyIn,
  trainableNames,
  trainableParameters,
  unload,
  unmerge,
  withAdaptersDisabled,
  type Node,
} from "../../src/index.js";
import { allClose, perturbAdapter, sameTree, treeDiff } from "../../laws/index.js";
import { leakFree, mlpSpecs } from "../laws/models.js";

const mlp = (seed = 0): Node => fromLayers(mlpSpecs, seed);
const x10 = (): tf.Tensor => tf.randomNormal([3, 10], 0, 1, "float32", 7);

/** Every tensor a set of trees holds, freed once. */
const freeAll = (...trees: ReadonlyArray<Node>): void => tf.dispose([...new Set(trees.flatMap((t) => [...tensorsOf(t)]))]);

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe("inject", () => {
  it("zero matches is an error listing the modules that exist", () =>
    leakFree(() => {
      const m = mlp();
      expect(() => inject(m, lora, loraConfig({ targetModules: ["c_attn"] }))).toThrow(
        /target_modules \["c_attn"\] matched no module; modules with parameters: lin0 \(linear\), lin1 \(linear\)/,
      );
      expect(() => inject(m, lora, loraConfig({ targetModules: "lin" }))).toThrow(/matched no module/);
      disposeTree(m);
    }));

  it("an unsupported kind is an error naming the path and the kind", () =>
    leakFree(() => {
      const m = sequential({ block: sequential({ ln: layerNorm({ dim: 4 }), lin: linear({ inFeatures: 4, outFeatures: 4 }, 0) }) });
      expect(() => inject(m, lora, loraConfig({ targetModules: ["ln"] }))).toThrow(
        /^block\.ln: LORA cannot adapt a 'layerNorm' module \(supported: linear, conv1d, conv2d, embedding\)$/,
      );
      disposeTree(m);
    }));

  it("rejects bad adapter names and duplicates before touching the model", () =>
    leakFree(() => {
      const m = mlp();
      const cfg = loraConfig({ targetModules: ["lin0"] });
      for (const bad of ["../evil", "a/b", "", "lora_A", "lora_magnitude_vector"]) {
        expect(() => inject(m, lora, cfg, { adapterName: bad }), bad).toThrow(/invalid adapter name/);
      }
      const a = inject(m, lora, cfg);
      expect(() => inject(a, lora, cfg)).toThrow(/adapter 'default' already exists/);
      disposeReplaced(a, m);
      disposeTree(m);
    }));

  it("trainable parameters on the golden MLP: 208 of 470, as PEFT prints", () =>
    leakFree(() => {
      const m = mlp();
      const a = inject(m, lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"] }));
      const report = trainableParameters(a);
      expect(report).toEqual({ trainable: 4 * 10 + 20 * 4 + 4 * 20 + 2 * 4, total: 262 + 208, percent: (100 * 208) / 470 });
      expect(formatTrainableParameters(report)).toBe("trainable params: 208 || all params: 470 || trainable%: 44.2553");
      expect(trainableParameters(m)).toMatchObject({ trainable: 0, total: 262 });
      freeAll(a);
    }));

  it("bias='all' trains every bias, 'lora_only' only the adapted layers' ones", () =>
    leakFree(() => {
      const m = mlp();
      const all = inject(m, lora, loraConfig({ r: 1, targetModules: ["lin0"], bias: "all" }));
      const only = inject(m, lora, loraConfig({ r: 1, targetModules: ["lin0"], bias: "lora_only" }));
      const biasKeys = (t: Node) => Object.keys(partition(t).trainable).filter((k) => k.endsWith("bias"));
      expect(biasKeys(all)).toEqual(["lin0.base_layer.bias", "lin1.bias"]);
      expect(biasKeys(only)).toEqual(["lin0.base_layer.bias"]);
      // unload gives the base back exactly, frozen as it was (not with trainable biases)
      expect(treeDiff(unload(all), m)).toBeUndefined();
      expect(treeDiff(unload(only), m)).toBeUndefined();
      freeAll(all, only);
    }));

  it("modules_to_save: a trainable copy per adapter, the original kept", () =>
    leakFree(() => {
      const m = mlp();
      const a = inject(m, lora, loraConfig({ r: 2, targetModules: ["lin0"], modulesToSave: ["lin1"] }));
      const w = getAt(a, ["lin1"]);
      expect(w.kind).toBe("modulesToSave");
      expect(getAt(w, ["original_module"])).toBe(getAt(m, ["lin1"]));
      const copy = getAt(w, ["modules_to_save", "default"]);
      expect([...trainableNames(copy)].sort()).toEqual(["bias", "weight"]);
      expect(copy.params["weight"]).not.toBe(getAt(m, ["lin1"]).params["weight"]);
      expect(() => inject(m, lora, loraConfig({ targetModules: ["lin0"], modulesToSave: ["head"] }))).toThrow(/modules_to_save \["head"\] matched no module/);
      freeAll(a);
    }));

  it("a second adapter joins existing layers and never targets another adapter's insides", () =>
    leakFree(() => {
      const m = mlp();
      const a = inject(m, lora, loraConfig({ r: 2, targetModules: ["lin0"], modulesToSave: ["lin1"] }));
      const b = inject(a, lora, loraConfig({ r: 3, targetModules: "all-linear" }), { adapterName: "b" });
      // lin0 gets b next to default; lin1 (a modules_to_save wrapper) is not wrapped inside; no lora in a lora
      expect(adaptedLayers(b).map(([p]) => p.join("."))).toEqual(["lin0"]);
      expect(layerAdapters(getAt(b, ["lin0"]))).toEqual(["default", "b"]);
      expect(nodes(b).filter(([, n]) => n.kind === "lora").map(([p]) => p.join("."))).toEqual(["lin0"]);
      const c = inject(a, lora, loraConfig({ r: 3, targetModules: "lin.*" }), { adapterName: "c" });
      expect(nodes(c).filter(([, n]) => n.kind === "lora").map(([p]) => p.join("."))).toEqual(["lin0"]);
      freeAll(b, c);
    }));
});

describe("adapters on and off", () => {
  /** One linear layer: adapters' contributions add up exactly. */
  const single = () => sequential({ lin: linear({ inFeatures: 6, outFeatures: 4 }, 1) });
  /** Inject, then perturb the new adapter, freeing the tensors the perturbation replaced. */
  const add = (m: Node, r: number, name: string, seed: number): Node => {
    const injected = inject(m, lora, loraConfig({ r, targetModules: ["lin"], initLoraWeights: false }), { adapterName: name, seed });
    const out = perturbAdapter(injected, name, seed, 0.1);
    disposeReplaced(injected, out);
    return out;
  };
  const twoAdapters = (base: Node): Node => add(add(base, 2, "default", 1), 3, "b", 2);

  it("setAdapter picks one adapter; setAdapter([a, b]) sums them", () =>
    leakFree(() => {
      const base = single();
      const m = twoAdapters(base);
      const x = tf.randomNormal([5, 6], 0, 1, "float32", 3);
      expect(activeAdapters(m)).toEqual(["default"]);
      const y0 = apply(base, x);
      const ya = apply(m, x);
      const yb = apply(setAdapter(m, "b"), x);
      const yab = apply(setAdapter(m, ["default", "b"]), x);
      expect(activeAdapters(setAdapter(m, ["default", "b"]))).toEqual(["default", "b"]);
      expect(layerMeta(getAt(setAdapter(m, "b"), ["lin"])).active).toEqual(["b"]);
      const sum = tf.tidy(() => tf.sub(tf.add(ya, yb), y0));
      expect(allClose(yab, sum, lora.tolerance).ok).toBe(true);
      expect(maxDiff(ya, yb)).toBeGreaterThan(1e-3);
      expect(() => setAdapter(m, "nope")).toThrow(/no adapter 'nope' \(adapters: default, b\)/);
      tf.dispose([x, y0, ya, yb, yab, sum]);
      freeAll(m);
    }));

  it("disable / enable / withAdaptersDisabled", () =>
    leakFree(() => {
      const base = single();
      const m = twoAdapters(base);
      const x = tf.randomNormal([2, 6], 0, 1, "float32", 4);
      const y0 = apply(base, x);
      const y = apply(m, x);
      const off = withAdaptersDisabled(m, (d) => apply(d, x));
      const on = apply(enableAdapters(disableAdapters(m)), x);
      expect(maxDiff(off, y0)).toBe(0);
      expect(maxDiff(on, y)).toBe(0);
      expect(maxDiff(y, y0)).toBeGreaterThan(1e-3);
      tf.dispose([x, y0, y, off, on]);
      freeAll(m);
    }));

  it("disabling does not undo biases trained with bias='all' (PEFT's design)", () =>
    leakFree(() => {
      const base = single();
      const m = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin"], bias: "all" }));
      const trained = E.getOrElseW(() => {
        throw new Error("load failed");
      })(loadStateDict(m, { "lin.base_layer.bias": tf.ones([4]) }, { strict: false }));
      const x = tf.randomNormal([2, 6], 0, 1, "float32", 4);
      const y0 = apply(base, x);
      const off = apply(disableAdapters(trained), x);
      expect(maxDiff(off, y0)).toBeGreaterThan(1e-3);
      tf.dispose([x, y0, off]);
      freeAll(trained, m);
    }));

  it("deleteAdapter removes it everywhere and frees only its tensors", () =>
    leakFree(() => {
      const base = single();
      const m = twoAdapters(base);
      const before = tensorsOf(m).size;
      const onlyB = deleteAdapter(m, "default");
      expect(adapterNames(onlyB)).toEqual(["b"]);
      expect(activeAdapters(onlyB)).toEqual(["b"]); // the active one was deleted: the first remaining takes over
      expect(layerAdapters(getAt(onlyB, ["lin"]))).toEqual(["b"]);
      expect(Object.keys(getAt(onlyB, ["lin", "lora_A"]).children)).toEqual(["b"]);
      const gone = tensorsOnlyIn(onlyB, m);
      expect(gone).toHaveLength(2); // default's A and B
      disposeReplaced(m, onlyB);
      expect(tensorsOf(onlyB).size).toBe(before - 2);
      // the last adapter gone: the base model itself
      const none = deleteAdapter(onlyB, "b");
      expect(sameTree(none, base)).toBe(true);
      expect(() => deleteAdapter(onlyB, "zzz")).toThrow(/no adapter 'zzz' \(adapters: b\)/);
      const merged = E.getOrElseW(() => {
        throw new Error("merge failed");
      })(merge(onlyB));
      expect(() => deleteAdapter(merged, "b")).toThrow(/adapter 'b' is merged; unmerge before deleting it/);
      freeAll(merged, onlyB);
    }));

  it("setTrainableAdapters marks exactly the named adapters trainable", () =>
    leakFree(() => {
      const m = twoAdapters(single());
      const onlyB = setTrainableAdapters(m, ["b"]);
      expect(Object.keys(partition(onlyB).trainable).sort()).toEqual(["lin.lora_A.b.weight", "lin.lora_B.b.weight"]);
      freeAll(m);
    }));
});

describe("merge", () => {
  it("merge / unmerge / mergeAndUnload / unload on the golden MLP", () =>
    leakFree(() => {
      const base = mlp();
      const injected = inject(base, lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"], initLoraWeights: false }));
      const a = perturbAdapter(injected, "default", 0, 0.1);
      disposeReplaced(injected, a);
      const x = x10();
      const merged = E.getOrElseW((e: { message: string }) => {
        throw new Error(e.message);
      })(merge(a));
      expect(layerMeta(getAt(merged, ["lin0"])).merged).toEqual(["default"]);
      expect(layerMeta(getAt(merged, ["lin0"])).original).toBe(getAt(a, ["lin0", "base_layer"]));
      const y = apply(a, x);
      const ym = apply(merged, x);
      expect(allClose(ym, y, lora.tolerance).ok).toBe(true);
      expect(sameTree(unmerge(merged), a)).toBe(true);
      const plain = E.getOrElseW(() => {
        throw new Error("mergeAndUnload failed");
      })(mergeAndUnload(a));
      expect(nodes(plain).every(([, n]) => n.kind !== "lora")).toBe(true);
      expect(getAt(plain, ["lin0"]).kind).toBe("linear");
      expect(sameTree(unload(merged), base)).toBe(true);
      const u = E.isLeft(merge(a, { adapters: ["nope"] })) ? "left" : "right";
      expect(u).toBe("left");
      tf.dispose([x, y, ym]);
      freeAll(a, merged, plain);
    }));

  it("a merge that would give NaN is refused, names the layer, and frees what it made", () =>
    leakFree(() => {
      const base = mlp();
      const a = inject(base, lora, loraConfig({ r: 2, targetModules: ["lin0", "lin1"] }));
      const nan = tf.fill([2, 2], NaN);
      const poisoned = E.getOrElseW(() => {
        throw new Error("load failed");
      })(loadStateDict(a, { "lin1.lora_B.default.weight": nan }, { strict: false }));
      const r = merge(poisoned);
      expect(E.isLeft(r) && r.left).toMatchObject({ _tag: "NonFinite", path: "lin1", adapter: "default" });
      expect(E.isLeft(r) && r.left.message).toMatch(/lin1: merging adapter 'default' gives NaN\/Inf weights; nothing was merged/);
      freeAll(a, poisoned);
    }));
});
