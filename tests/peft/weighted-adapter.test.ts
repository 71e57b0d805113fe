/**
 * addWeightedAdapter against PEFT 0.20's add_weighted_adapter
 * (../shared/golden/multi_lora_mlp: adapters a, b → comb_linear, comb_cat,
 * comb_svd with weights [0.7, 0.3], svd_rank 2), plus its errors, its
 * config, and the ownership rules (no leaks, input untouched).
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  addWeightedAdapter,
  adapterNames,
  apply,
  disposeTree,
  fromLayers,
  getAt,
  inject,
  layerMeta,
  loadAdapter,
  loadStateDict,
  loadTensors,
  lora,
  loraConfig,
  mergeAndUnload,
  setAdapter,
  saveAdapter,
  tensorsOf,
  trainableNames,
  type CombinationType,
  type LayerSpec,
  type Node,
  type WeightedAdapterOptions,
} from "../../src/index.js";

const dir = nodePath.resolve(__dirname, "../../../shared/golden/multi_lora_mlp");
const caseJson = async (): Promise<any> => JSON.parse(await fs.readFile(nodePath.join(dir, "case.json"), "utf8"));

let base: Node;
let model: Node; // base + a + b, loaded as a user would
let expected: Record<string, tf.Tensor>;
let x: tf.Tensor;
const combs: Partial<Record<string, Node>> = {};
const peftFactors: Record<string, Record<string, tf.Tensor>> = {};
let tol: { outputs: { atol: number; rtol: number }; merged_weights: { atol: number; rtol: number } };
const layers = ["lin0", "lin1"] as const;

const options = (combinationType: CombinationType, adapterName: string): WeightedAdapterOptions => ({
  adapters: ["a", "b"],
  weights: [0.7, 0.3],
  adapterName,
  combinationType,
  svdRank: 2,
});

const maxDiff = (got: tf.Tensor, want: tf.Tensor): number => {
  expect(got.shape).toEqual(want.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] as number);
};

/** |got − want| ≤ atol + rtol·|want| elementwise; returns max |got − want|. */
const expectClose = (got: tf.Tensor, want: tf.Tensor, t: { atol: number; rtol: number }, what: string): number => {
  const g = got.dataSync();
  const w = want.dataSync();
  expect(got.shape, what).toEqual(want.shape);
  let worst = 0;
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs((g[i] as number) - (w[i] as number));
    worst = Math.max(worst, d);
    expect(d <= t.atol + t.rtol * Math.abs(w[i] as number), `${what}[${i}]: ${g[i]} vs ${w[i]}`).toBe(true);
  }
  return worst;
};

const factor = (m: Node, layer: string, slot: "lora_A" | "lora_B", adapter: string): tf.Tensor =>
  getAt(m, [layer, slot, adapter]).params["weight"] as tf.Tensor;

const measured: Record<string, number> = {};

beforeAll(async () => {
  const c = await caseJson();
  tol = c.tolerance;
  const built = fromLayers(c.model.layers as ReadonlyArray<LayerSpec>);
  const weights = await loadTensors(nodePath.join(dir, "base_model.safetensors"));
  base = E.getOrElseW((e: { message: string }) => {
    throw new Error(e.message);
  })(loadStateDict(built, weights));
  disposeTree(built);
  const a = await loadAdapter(base, nodePath.join(dir, "adapter", "a"), { adapterName: "a" });
  model = await loadAdapter(a, nodePath.join(dir, "adapter", "b"), { adapterName: "b" });
  expected = await loadTensors(nodePath.join(dir, "expected.safetensors"));
  x = (await loadTensors(nodePath.join(dir, "inputs.safetensors")))["X"] as tf.Tensor;
  for (const comb of ["comb_linear", "comb_cat", "comb_svd"]) {
    const raw = await loadTensors(nodePath.join(dir, "adapter", comb, "adapter_model.safetensors"));
    peftFactors[comb] = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace("base_model.model.", "").replace(".weight", ""), v]));
  }
  for (const [kind, name] of [["linear", "comb_linear"], ["cat", "comb_cat"], ["svd", "comb_svd"]] as const) {
    const r = addWeightedAdapter(model, options(kind, name));
    if (E.isLeft(r)) throw new Error(r.left.message);
    combs[name] = r.right;
  }
});

afterAll(() => {
  const all = new Set<tf.Tensor>();
  for (const t of [base, model, ...Object.values(combs)]) if (t !== undefined) for (const p of tensorsOf(t)) all.add(p);
  for (const t of [...Object.values(expected), x, ...Object.values(peftFactors).flatMap((f) => Object.values(f))]) all.add(t);
  tf.dispose([...all]);
  console.log(`max |ours − PEFT| per combination: ${JSON.stringify(measured)}`);
});

describe("addWeightedAdapter vs PEFT 0.20 (multi_lora_mlp)", () => {
  for (const name of ["comb_linear", "comb_cat"]) {
    it(`${name}: A and B equal PEFT's (exact arithmetic)`, () => {
      const m = combs[name] as Node;
      let worst = 0;
      for (const l of layers) {
        for (const slot of ["lora_A", "lora_B"] as const) {
          const want = peftFactors[name]?.[`${l}.${slot}`] as tf.Tensor;
          worst = Math.max(worst, expectClose(factor(m, l, slot, name), want, { atol: 1e-6, rtol: 1e-6 }, `${name} ${l}.${slot}`));
        }
      }
      measured[`${name}.factors`] = worst;
    });
  }

  it("comb_svd: B·A equals PEFT's (singular vectors are defined up to sign)", () => {
    const m = combs["comb_svd"] as Node;
    let worst = 0;
    for (const l of layers) {
      const ours = tf.matMul(factor(m, l, "lora_B", "comb_svd"), factor(m, l, "lora_A", "comb_svd"));
      const theirs = tf.matMul(peftFactors["comb_svd"]?.[`${l}.lora_B`] as tf.Tensor, peftFactors["comb_svd"]?.[`${l}.lora_A`] as tf.Tensor);
      worst = Math.max(worst, expectClose(ours, theirs, tol.merged_weights, `comb_svd ${l} B·A`));
      tf.dispose([ours, theirs]);
      // the factors themselves agree up to the sign of each singular pair
      const a = factor(m, l, "lora_A", "comb_svd").arraySync() as number[][];
      const pa = (peftFactors["comb_svd"]?.[`${l}.lora_A`] as tf.Tensor).arraySync() as number[][];
      a.forEach((row, i) => {
        const sign = Math.sign(row.reduce((s, v, j) => s + v * (pa[i]?.[j] as number), 0));
        row.forEach((v, j) => expect(Math.abs(sign * v - (pa[i]?.[j] as number))).toBeLessThan(1e-4));
      });
    }
    measured["comb_svd.BA"] = worst;
  });

  for (const name of ["comb_linear", "comb_cat", "comb_svd"]) {
    it(`${name}: outputs, merged outputs and merged weights match PEFT`, () => {
      const m = setAdapter(combs[name] as Node, name);
      const y = apply(m, x);
      measured[`${name}.output`] = expectClose(y, expected[`output.${name}`] as tf.Tensor, tol.outputs, `output.${name}`);
      const merged = mergeAndUnload(m);
      if (E.isLeft(merged)) throw new Error(merged.left.message);
      const ym = apply(merged.right, x);
      measured[`${name}.output_merged`] = expectClose(ym, expected[`output_merged.${name}`] as tf.Tensor, tol.outputs, `output_merged.${name}`);
      let worst = 0;
      for (const l of layers) {
        const w = getAt(merged.right, [l]).params["weight"] as tf.Tensor;
        worst = Math.max(worst, expectClose(w, expected[`merged.${name}.${l}.weight`] as tf.Tensor, tol.merged_weights, `merged.${name}.${l}`));
      }
      measured[`${name}.merged`] = worst;
      const held = tensorsOf(m);
      tf.dispose([y, ym, ...[...tensorsOf(merged.right)].filter((t) => !held.has(t))]);
    });
  }

  it("saved comb_* adapters carry PEFT's config (r, lora_alpha, target_modules) and factors' shapes", async () => {
    const c = await caseJson();
    const tmp = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-weighted-"));
    try {
      for (const name of ["comb_linear", "comb_cat", "comb_svd"]) {
        await saveAdapter(combs[name] as Node, tmp, { adapters: [name] });
        const mine = JSON.parse(await fs.readFile(nodePath.join(tmp, name, "adapter_config.json"), "utf8"));
        const theirs = c.peft_configs[name];
        for (const k of ["r", "lora_alpha", "rank_pattern", "alpha_pattern", "init_lora_weights", "use_rslora", "bias", "fan_in_fan_out"]) {
          expect(mine[k], `${name}.${k}`).toEqual(theirs[k]);
        }
        expect([...mine.target_modules].sort()).toEqual([...theirs.target_modules].sort());
        const saved = await loadTensors(nodePath.join(tmp, name, "adapter_model.safetensors"));
        for (const [k, shape] of Object.entries(c.adapter_tensors[`${name}/adapter_model.safetensors`] as Record<string, number[]>)) {
          expect(saved[k]?.shape, `${name} ${k}`).toEqual(shape);
        }
        tf.dispose(Object.values(saved));
      }
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it("the new adapter is frozen, not activated, and the input tree is untouched", () => {
    const m = combs["comb_cat"] as Node;
    expect(adapterNames(m)).toEqual(["a", "b", "comb_cat"]);
    expect(adapterNames(model)).toEqual(["a", "b"]);
    expect(layerMeta(getAt(m, ["lin0"])).active).toEqual(layerMeta(getAt(model, ["lin0"])).active);
    expect(trainableNames(getAt(m, ["lin0", "lora_A", "comb_cat"]))).toEqual([]);
    expect(getAt(model, ["lin0", "lora_A"]).children["comb_cat"]).toBeUndefined();
    // every tensor of the input is shared, alive, and unchanged
    for (const t of tensorsOf(model)) expect(t.isDisposed).toBe(false);
    expect(factor(m, "lin0", "lora_A", "a")).toBe(factor(model, "lin0", "lora_A", "a"));
    expect(maxDiff(factor(m, "lin1", "lora_B", "b"), factor(model, "lin1", "lora_B", "b"))).toBe(0);
  });
});

describe("addWeightedAdapter: errors and ownership", () => {
  const leftOf = (r: E.Either<{ _tag: string; message: string }, Node>): { _tag: string; message: string } => {
    if (E.isRight(r)) throw new Error("expected a Left");
    return r.left;
  };

  it("refuses unknown adapters, existing names, bad weights and bad types, leaking nothing", () => {
    const before = tf.memory().numTensors;
    const unknown = leftOf(addWeightedAdapter(model, { ...options("linear", "x"), adapters: ["a", "nope"] }));
    expect(unknown._tag).toBe("UnknownAdapter");
    expect(unknown.message).toContain("no adapter 'nope' (adapters: a, b)");
    expect(leftOf(addWeightedAdapter(model, options("linear", "a")))._tag).toBe("AdapterExists");
    expect(leftOf(addWeightedAdapter(model, { ...options("linear", "x"), weights: [1] })).message).toContain("2 adapters but 1 weights");
    expect(leftOf(addWeightedAdapter(model, { ...options("linear", "x"), combinationType: "bogus" as CombinationType })).message).toContain(
      "invalid combination_type 'bogus'",
    );
    expect(leftOf(addWeightedAdapter(model, options("ties", "x"))).message).toContain("needs a density");
    expect(tf.memory().numTensors).toBe(before);
  });

  it("linear needs equal ranks (cat and svd do not)", () => {
    const before = tf.memory().numTensors;
    const r8 = inject(model, lora, loraConfig({ r: 8, targetModules: ["lin0"], initLoraWeights: false }), { adapterName: "c", trainable: false });
    const mismatch = leftOf(addWeightedAdapter(r8, { ...options("linear", "x"), adapters: ["a", "c"] }));
    expect(mismatch._tag).toBe("RankMismatch");
    expect(mismatch.message).toContain("a: 4, c: 8");
    const cat = addWeightedAdapter(r8, { ...options("cat", "x"), adapters: ["a", "c"] });
    if (E.isLeft(cat)) throw new Error(cat.left.message);
    // lin1 has only `a`: its rows are a's, then zeros up to r = 12 (as PEFT)
    expect(factor(cat.right, "lin1", "lora_A", "x").shape).toEqual([12, 20]);
    const held = tensorsOf(model);
    tf.dispose([...tensorsOf(cat.right)].filter((t) => !held.has(t)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses DoRA adapters", () => {
    const before = tf.memory().numTensors;
    const d = inject(model, lora, loraConfig({ r: 4, targetModules: ["lin0"], useDora: true }), { adapterName: "d" });
    const e = leftOf(addWeightedAdapter(d, { ...options("svd", "x"), adapters: ["a", "d"] }));
    expect(e._tag).toBe("Unsupported");
    expect(e.message).toContain("DoRA");
    const held = tensorsOf(model);
    tf.dispose([...tensorsOf(d)].filter((t) => !held.has(t)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a successful call allocates only the new factors, freed with the result", () => {
    const before = tf.memory().numTensors;
    for (const kind of ["linear", "cat", "svd", "ties", "dare_linear", "dare_ties_svd", "magnitude_prune"] as const) {
      const r = addWeightedAdapter(model, { ...options(kind, "w"), density: 0.5 });
      if (E.isLeft(r)) throw new Error(`${kind}: ${r.left.message}`);
      const held = tensorsOf(model);
      const fresh = [...tensorsOf(r.right)].filter((t) => !held.has(t));
      expect(fresh.length, kind).toBe(4);
      tf.dispose(fresh);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("negative weights subtract (sign on A only, as PEFT ≥ 0.15)", () => {
    const r = addWeightedAdapter(model, { adapters: ["a", "b"], weights: [1, -1], adapterName: "diff", combinationType: "cat" });
    const l = addWeightedAdapter(model, { adapters: ["a"], weights: [-1], adapterName: "neg" });
    if (E.isLeft(r) || E.isLeft(l)) throw new Error("unexpected Left");
    const held = tensorsOf(model);
    tf.tidy(() => {
      const ba = (m: Node, n: string, lin: string) => tf.matMul(factor(m, lin, "lora_B", n), factor(m, lin, "lora_A", n));
      const sa = 2; // a: alpha 8 / r 4
      const sb = 1; // b: alpha 4 / r 4
      const want = tf.sub(tf.mul(ba(model, "a", "lin0"), sa), tf.mul(ba(model, "b", "lin0"), sb));
      expect(maxDiff(ba(r.right, "diff", "lin0"), want)).toBeLessThan(1e-5);
      expect(maxDiff(ba(l.right, "neg", "lin0"), tf.mul(ba(model, "a", "lin0"), -sa))).toBeLessThan(1e-5);
    });
    tf.dispose([...tensorsOf(r.right), ...tensorsOf(l.right)].filter((t) => !held.has(t)));
  });
});
