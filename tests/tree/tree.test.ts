/**
 * The node tree: inspection (`show`), selections with PEFT's matching rules,
 * optics, parameter folds and disposal.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  all,
  and,
  at,
  byKind,
  byLayer,
  byName,
  byRegex,
  combine,
  countParams,
  disposeReplaced,
  disposeTree,
  fromLayers,
  getAt,
  inject,
  keepTree,
  loadStateDict,
  lora,
  loraConfig,
  modifyAt,
  node,
  nodes,
  not,
  or,
  param,
  partition,
  Path,
  select,
  setAt,
  show,
  tensorsOf,
  tensorsOnlyIn,
  toStateDict,
  withParams,
  type Node,
} from "../../src/index.js";
import { tidy } from "../../src/nn/ops.js";
import { leakFree, mlpSpecs } from "../laws/models.js";

const leaf = (kind = "linear"): Node => node(kind);
const p = (s: string): ReadonlyArray<string> => Path.fromString(s);

describe("show", () => {
  it("lists every node with its kind, param shapes, and the counts", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const out = show(mlp);
      disposeTree(mlp);
      const lines = out.split("\n");
      expect(lines[0]).toMatch(/^<root>  sequential/);
      expect(lines).toContainEqual(expect.stringMatching(/^  lin0  linear \{inFeatures: 10, outFeatures: 20\}  weight \[20, 10\]  bias \[20\]$/));
      expect(lines).toContainEqual(expect.stringMatching(/^  relu  activation/));
      expect(lines).toContainEqual(expect.stringMatching(/^  lin1  linear .*weight \[2, 20\]  bias \[2\]$/));
      expect(lines[lines.length - 1]).toMatch(/^params: 262 total, 0 trainable \(0\.0000%\)/);
    }));

  it("nests adapted layers by depth, stars trainable params, and counts them", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const adapted = inject(mlp, lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"] }));
      const out = show(adapted, { meta: false });
      disposeTree(adapted);
      expect(out).toContain("\n  lin0  lora\n    base_layer  linear  weight [20, 10]  bias [20]\n    lora_A  dict\n      default  linear  weight* [4, 10]\n");
      expect(out).toContain("      default  linear  weight* [2, 4]");
      expect(out).toMatch(/params: 470 total, 208 trainable \(44\.2553%\)/);
    }));

  it("marks what a selection matches", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const out = show(mlp, { select: byName(["lin1"]), meta: false }).split("\n");
      disposeTree(mlp);
      expect(out.filter((l) => l.startsWith("▶ "))).toEqual(["▶   lin1  linear  weight [2, 20]  bias [2]"]);
      expect(out.find((l) => l.includes("lin0"))).toMatch(/^ {4}lin0/);
    }));
});

describe("selections (PEFT's matching rules)", () => {
  it("byName: the module name equals an entry or ends with '.entry'", () => {
    const s = byName(["c_attn"]);
    expect(s(p("transformer.h.0.attn.c_attn"), leaf())).toBe(true);
    expect(s(p("c_attn"), leaf())).toBe(true);
    expect(s(p("transformer.h.0.attn.c_attn_x"), leaf())).toBe(false);
    expect(s(p("transformer.h.0.attn.xc_attn"), leaf())).toBe(false);
    expect(s(p("transformer.h.0.c_attn.proj"), leaf())).toBe(false);
    expect(s([], leaf())).toBe(false);
    expect(byName(["attn.c_attn"])(p("transformer.h.0.attn.c_attn"), leaf())).toBe(true);
    expect(byName(["attn.c_attn"])(p("transformer.h.0.xattn.c_attn"), leaf())).toBe(false);
  });

  it("byRegex: the whole dotted name must match (re.fullmatch)", () => {
    expect(byRegex("c_attn")(p("transformer.h.0.attn.c_attn"), leaf())).toBe(false);
    expect(byRegex(".*c_attn")(p("transformer.h.0.attn.c_attn"), leaf())).toBe(true);
    expect(byRegex(".*\\.(q|v)_proj")(p("model.layers.1.self_attn.q_proj"), leaf())).toBe(true);
    expect(byRegex(".*\\.(q|v)_proj")(p("model.layers.1.self_attn.k_proj"), leaf())).toBe(false);
    // an alternation is anchored as a whole, not per branch
    expect(byRegex("lin0|lin1")(p("lin0x"), leaf())).toBe(false);
    expect(byRegex("lin0|lin1")(p("lin1"), leaf())).toBe(true);
    expect(byRegex(/lin\d/)(p("lin7"), leaf())).toBe(true);
    expect(byRegex(".*")([], leaf())).toBe(false);
  });

  it("byLayer: the integer after layers|h|block|blocks|layer", () => {
    const s = byLayer([0, 2]);
    expect(s(p("transformer.h.0.attn.c_attn"), leaf())).toBe(true);
    expect(s(p("model.layers.2.mlp.up_proj"), leaf())).toBe(true);
    expect(s(p("transformer.h.1.attn.c_attn"), leaf())).toBe(false);
    expect(s(p("transformer.wte"), leaf())).toBe(false);
    expect(s(p("encoder.stage.0.conv"), leaf())).toBe(false);
    expect(byLayer([0], ["stage"])(p("encoder.stage.0.conv"), leaf())).toBe(true);
    expect(Path.layerIndex(p("a.h.12.b"))).toBe(12);
    expect(Path.layerIndex(p("a.h.b"))).toBeUndefined();
  });

  it("combinators and kinds", () => {
    const lin = node("linear");
    const emb = node("embedding");
    expect(byKind("linear", "conv1d")([], lin)).toBe(true);
    expect(byKind("linear")([], emb)).toBe(false);
    expect(and(byKind("linear"), byName(["x"]))(p("a.x"), lin)).toBe(true);
    expect(and(byKind("linear"), byName(["x"]))(p("a.x"), emb)).toBe(false);
    expect(or(byKind("linear"), byName(["x"]))(p("a.x"), emb)).toBe(true);
    expect(not(byKind("linear"))([], lin)).toBe(false);
    expect(all([], lin)).toBe(true);
  });

  it("select: pre-order, outermost match only, untouched subtrees shared", () => {
    const t = node("root", {
      children: { a: node("linear", { children: { inner: node("linear") } }), b: node("block", { children: { c: node("linear") } }), d: node("relu") },
    });
    const linears = select(byKind("linear"));
    expect(linears.getAll(t).map(([q]) => q.join("."))).toEqual(["a", "b.c"]);
    const out = linears.modify((n) => node("wrapped", { children: { base: n } }))(t);
    expect(getAt(out, ["a"]).kind).toBe("wrapped");
    expect(getAt(out, ["a", "base", "inner"]).kind).toBe("linear"); // not wrapped again
    expect(out.children["d"]).toBe(t.children["d"]);
    expect(select(byKind("nothing")).modify((n) => n)(t)).toBe(t);
    expect(nodes(t).map(([q]) => q.join("."))).toEqual(["", "a", "a.inner", "b", "b.c", "d"]);
  });
});

describe("optics", () => {
  it("at / param focus on what exists and share the rest", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const w = tf.zeros([20, 10]);
      try {
        expect(O.isNone(at(["nope"]).getOption(mlp))).toBe(true);
        expect(O.isNone(at(["lin0", "deeper"]).getOption(mlp))).toBe(true);
        const lin0 = getAt(mlp, ["lin0"]);
        const next = at(["lin0"]).set(param("weight").set(w)(lin0))(mlp);
        expect(getAt(next, ["lin0"]).params["weight"]).toBe(w);
        expect(getAt(next, ["lin0"]).params["bias"]).toBe(lin0.params["bias"]);
        expect(next.children["lin1"]).toBe(mlp.children["lin1"]);
        expect(param("missing").set(w)(lin0)).toBe(lin0); // no focus: no change
        expect(modifyAt(mlp, ["lin1"], (n) => n)).toBe(mlp);
        expect(() => getAt(mlp, ["lin0", "x"])).toThrow(/no module 'lin0.x' \(children of 'lin0': none\)/);
        expect(() => getAt(mlp, ["lin9"])).toThrow(/children of '<root>': lin0, relu, lin1, sm/);
        expect(() => setAt(mlp, ["nope", "deeper"], lin0)).toThrow(/no module 'nope'/);
      } finally {
        disposeTree(mlp);
        w.dispose();
      }
    }));
});

describe("parameter folds", () => {
  it("state dict keys are Hugging Face names and share the tensors", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const sd = toStateDict(mlp);
      expect(Object.keys(sd)).toEqual(["lin0.weight", "lin0.bias", "lin1.weight", "lin1.bias"]);
      expect(sd["lin0.weight"]).toBe(getAt(mlp, ["lin0"]).params["weight"]);
      expect(countParams(mlp)).toEqual({ total: 262, trainable: 0 });
      disposeTree(mlp);
    }));

  it("loadStateDict reports missing, unexpected and mis-shaped keys by name", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const wrong = tf.zeros([3, 3]);
      const extra = tf.zeros([1]);
      try {
        const { "lin1.bias": _gone, ...rest } = toStateDict(mlp);
        const r = loadStateDict(mlp, { ...rest, "lin0.weight": wrong, "lin2.weight": extra });
        expect(E.isLeft(r)).toBe(true);
        if (E.isLeft(r)) {
          expect(r.left.missing).toEqual(["lin1.bias"]);
          expect(r.left.unexpected).toEqual(["lin2.weight"]);
          expect(r.left.message).toContain("lin0.weight: expected [20, 10], got [3, 3]");
          expect(r.left.message).toContain("missing keys: lin1.bias");
          expect(r.left.message).toContain("unexpected keys: lin2.weight");
        }
        const loose = loadStateDict(mlp, { ...rest, "lin2.weight": extra }, { strict: false });
        expect(E.isRight(loose)).toBe(true);
        expect(() => combine(mlp, { "lin9.weight": extra })).toThrow(/unknown keys: lin9.weight/);
        expect(() => combine(mlp, { "lin0.weight": wrong })).toThrow(/lin0.weight: expected \[20, 10\], got \[3, 3\]/);
      } finally {
        disposeTree(mlp);
        wrong.dispose();
        extra.dispose();
      }
    }));

  it("partition splits trainable adapter params from the frozen base", () =>
    leakFree(() => {
      const adapted = inject(fromLayers(mlpSpecs, 0), lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"] }));
      const { trainable, frozen } = partition(adapted);
      expect(Object.keys(trainable).sort()).toEqual([
        "lin0.lora_A.default.weight",
        "lin0.lora_B.default.weight",
        "lin1.lora_A.default.weight",
        "lin1.lora_B.default.weight",
      ]);
      expect(Object.keys(frozen).sort()).toEqual(["lin0.base_layer.bias", "lin0.base_layer.weight", "lin1.base_layer.bias", "lin1.base_layer.weight"]);
      expect(countParams(adapted)).toEqual({ total: 470, trainable: 208 });
      disposeTree(adapted);
    }));
});

describe("disposal", () => {
  it("disposeReplaced frees exactly what the old tree alone held", () =>
    leakFree(() => {
      const mlp = fromLayers(mlpSpecs, 0);
      const lin0 = getAt(mlp, ["lin0"]);
      const oldW = lin0.params["weight"] as tf.Tensor;
      const next = setAt(mlp, ["lin0"], withParams(lin0, { weight: tf.ones([20, 10]) }));
      expect(tensorsOnlyIn(mlp, next)).toEqual([getAt(next, ["lin0"]).params["weight"]]);
      expect(tensorsOf(next).size).toBe(4);
      disposeReplaced(mlp, next);
      expect(oldW.isDisposed).toBe(true);
      expect(getAt(next, ["lin0"]).params["bias"]?.isDisposed).toBe(false);
      disposeTree(next);
      expect([...tensorsOf(next)].every((x) => x.isDisposed)).toBe(true);
    }));

  it("keepTree keeps a tree built inside tf.tidy", () =>
    leakFree(() => {
      const t = tidy(() => keepTree(fromLayers(mlpSpecs, 0)));
      expect([...tensorsOf(t)].every((x) => !x.isDisposed)).toBe(true);
      disposeTree(t);
    }));
});
