/**
 * Tuner-level pieces: which modules a config targets (PEFT's rules),
 * rank_pattern / alpha_pattern, the config codec, and LoRA's layer creation
 * on every supported kind.
 */
import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import {
  conv1d,
  conv2d,
  disposeTree,
  embedding,
  fromLayers,
  getAt,
  inject,
  layerMeta,
  linear,
  loraConfig,
  LoraConfig,
  loraDefaults,
  loraFields,
  loraDelta,
  loraSettingsFor,
  lora,
  node,
  nodes,
  patternKey,
  Path,
  sequential,
  slotModule,
  slotParam,
  targetSelection,
  validateAdapterName,
  type Node,
} from "../../src/index.js";
import { leakFree, mlpSpecs } from "../laws/models.js";

/** A GPT-2-shaped tree of empty nodes (no tensors needed to test matching). */
const gpt2ish = (): Node => {
  const block = () =>
    node("block", {
      children: {
        attn: node("attn", { children: { c_attn: node("conv1d"), c_proj: node("conv1d") } }),
        mlp: node("mlp", { children: { c_fc: node("conv1d"), c_proj: node("conv1d") } }),
        ln_1: node("layerNorm"),
      },
    });
  return node("gpt2", {
    children: {
      transformer: node("transformer", { children: { wte: node("embedding"), h: node("list", { children: { "0": block(), "1": block(), "2": block() } }) } }),
      lm_head: node("linear"),
    },
    meta: { outputHead: "lm_head" },
  });
};

const matched = (cfg: Partial<LoraConfig>, model: Node = gpt2ish()): ReadonlyArray<string> => {
  const sel = targetSelection(loraConfig(cfg), model);
  return nodes(model)
    .filter(([p, n]) => p.length > 0 && sel(p, n))
    .map(([p]) => Path.toString(p));
};

describe("target selection", () => {
  it("a list matches names and dotted suffixes", () => {
    expect(matched({ targetModules: ["c_attn"] })).toEqual(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn", "transformer.h.2.attn.c_attn"]);
    expect(matched({ targetModules: ["mlp.c_proj"] })).toEqual(["transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj", "transformer.h.2.mlp.c_proj"]);
    expect(matched({ targetModules: ["attn"] })).toEqual(["transformer.h.0.attn", "transformer.h.1.attn", "transformer.h.2.attn"]);
    expect(matched({ targetModules: ["c_att"] })).toEqual([]);
  });

  it("a string is a full-match regex", () => {
    expect(matched({ targetModules: "c_attn" })).toEqual([]);
    expect(matched({ targetModules: ".*\\.1\\.attn\\.c_attn" })).toEqual(["transformer.h.1.attn.c_attn"]);
  });

  it("all-linear takes every linear/conv1d but the output head", () => {
    const m = matched({ targetModules: "all-linear" });
    expect(m).toHaveLength(12);
    expect(m).not.toContain("lm_head");
    expect(m.every((x) => /c_(attn|proj|fc)$/.test(x))).toBe(true);
  });

  it("exclude_modules removes matches (list or regex)", () => {
    expect(matched({ targetModules: "all-linear", excludeModules: ["c_proj"] })).toHaveLength(6);
    expect(matched({ targetModules: ["c_attn"], excludeModules: ".*\\.0\\..*" })).toEqual(["transformer.h.1.attn.c_attn", "transformer.h.2.attn.c_attn"]);
  });

  it("layers_to_transform keeps the given layer indices; a regex target refuses it", () => {
    expect(matched({ targetModules: ["c_attn"], layersToTransform: [0, 2] })).toEqual(["transformer.h.0.attn.c_attn", "transformer.h.2.attn.c_attn"]);
    expect(matched({ targetModules: ["c_attn"], layersToTransform: 1, layersPattern: "h" })).toEqual(["transformer.h.1.attn.c_attn"]);
    expect(matched({ targetModules: ["c_attn"], layersToTransform: 1, layersPattern: ["layers"] })).toEqual([]);
    expect(() => matched({ targetModules: ".*c_attn", layersToTransform: [0] })).toThrow(/layers_to_transform cannot be used when target_modules is a regex/);
  });

  it("no target_modules and no model default is an error that says what to do", () => {
    expect(() => matched({ targetModules: null })).toThrow(/target_modules is not set .*pass targetModules/);
  });
});

describe("rank_pattern / alpha_pattern", () => {
  it("a key matches the end of the module name at a '.' boundary, as a regex", () => {
    const pats = { lin1: 2, "h\\.0\\.attn\\.c_.*": 3 };
    expect(patternKey(pats, "lin1")).toBe("lin1");
    expect(patternKey(pats, "model.lin1")).toBe("lin1");
    expect(patternKey(pats, "xlin1")).toBeUndefined();
    expect(patternKey(pats, "lin1.sub")).toBeUndefined();
    expect(patternKey(pats, "transformer.h.0.attn.c_attn")).toBe("h\\.0\\.attn\\.c_.*");
    expect(patternKey(pats, "transformer.h.10.attn.c_attn")).toBeUndefined();
    // the first matching key wins
    expect(patternKey({ "lin.": 5, lin1: 2 }, "lin1")).toBe("lin.");
  });

  it("resolves r, alpha and the scaling per module (rsLoRA: alpha/√r)", () => {
    const cfg = loraConfig({ r: 8, loraAlpha: 16, rankPattern: { lin1: 2 }, alphaPattern: { lin0: 4 } });
    expect(loraSettingsFor(cfg, "lin0")).toMatchObject({ r: 8, alpha: 4, scaling: 0.5 });
    expect(loraSettingsFor(cfg, "lin1")).toMatchObject({ r: 2, alpha: 16, scaling: 8 });
    expect(loraSettingsFor({ ...cfg, useRslora: true }, "lin1").scaling).toBeCloseTo(16 / Math.SQRT2, 12);
  });

  it("inject builds each layer with its own rank and scaling", () =>
    leakFree(() => {
      const m = inject(fromLayers(mlpSpecs, 0), lora, loraConfig({ r: 4, loraAlpha: 8, targetModules: ["lin0", "lin1"], rankPattern: { lin1: 2 }, alphaPattern: { lin1: 6 } }));
      const l0 = getAt(m, ["lin0"]);
      const l1 = getAt(m, ["lin1"]);
      expect(slotModule(l0, "lora_A", "default").params["weight"]?.shape).toEqual([4, 10]);
      expect(slotModule(l1, "lora_A", "default").params["weight"]?.shape).toEqual([2, 20]);
      expect(slotModule(l1, "lora_B", "default").params["weight"]?.shape).toEqual([2, 2]);
      expect(layerMeta(l0).adapters["default"]).toMatchObject({ r: 4, alpha: 8, scaling: 2 });
      expect(layerMeta(l1).adapters["default"]).toMatchObject({ r: 2, alpha: 6, scaling: 3 });
      disposeTree(m);
    }));
});

describe("the LoRA config codec", () => {
  it("decodes {} to PEFT's defaults and keeps unknown keys in extra", () => {
    const r = LoraConfig.decode({});
    expect(E.isRight(r) && r.right).toEqual(loraDefaults);
    const n = LoraConfig.decode({ r: 16, target_modules: ["q"], use_magic: { level: 3 } });
    expect(E.isRight(n) && n.right.r).toBe(16);
    expect(E.isRight(n) && n.right.extra).toEqual({ use_magic: { level: 3 } });
  });

  it("keeps an unknown '__proto__' key as data (JSON allows it; assigning it would set a prototype)", () => {
    const r = LoraConfig.decode(JSON.parse('{"r": 2, "__proto__": {"polluted": true}}'));
    expect(E.isRight(r)).toBe(true);
    if (E.isRight(r)) {
      expect(Object.keys(r.right.extra)).toEqual(["__proto__"]);
      expect(Object.getPrototypeOf(r.right.extra)).toBe(Object.prototype);
      expect(JSON.stringify(LoraConfig.encode(r.right))).toContain('"__proto__":{"polluted":true}');
    }
  });

  it("names each bad field", () => {
    const r = LoraConfig.decode({ r: 0, bias: "some", lora_dropout: 1.5, peft_type: "IA3" });
    expect(E.isLeft(r)).toBe(true);
    const report = PathReporter.report(r).join("\n");
    for (const key of ["r", "bias", "lora_dropout", "peft_type"]) expect(report).toMatch(new RegExp(`/${key}: `));
    expect(E.isLeft(LoraConfig.decode([]))).toBe(true);
  });

  it("encodes snake_case keys, sorted, with every field", () => {
    const json = LoraConfig.encode(loraConfig({ r: 4, targetModules: ["lin0"], extra: { zz_new: 1 } }));
    const keys = Object.keys(json);
    expect(keys).toEqual([...keys].sort());
    expect(json).toMatchObject({ r: 4, lora_alpha: 8, target_modules: ["lin0"], peft_type: "LORA", init_lora_weights: true, zz_new: 1 });
    expect(keys).toHaveLength(Object.keys(loraFields).length + 1); // every field, plus the unknown key
  });
});

describe("LoRA layers on every kind", () => {
  it("linear, conv1d, conv2d, embedding: slot shapes and the identity init", () =>
    leakFree(() => {
      const model = sequential({
        lin: linear({ inFeatures: 5, outFeatures: 3 }, 0),
        c1d: conv1d({ inFeatures: 5, outFeatures: 7 }, 1),
        conv: conv2d({ inChannels: 2, outChannels: 4, kernelSize: [3, 1] }, 2),
        emb: embedding({ numEmbeddings: 9, dim: 6 }, 3),
      });
      const m = inject(model, lora, loraConfig({ r: 2, targetModules: ["lin", "c1d", "conv", "emb"] }));
      const shape = (path: string, slot: string) => slotModule(getAt(m, [path]), slot, "default").params["weight"]?.shape;
      expect([shape("lin", "lora_A"), shape("lin", "lora_B")]).toEqual([[2, 5], [3, 2]]);
      expect([shape("c1d", "lora_A"), shape("c1d", "lora_B")]).toEqual([[2, 5], [7, 2]]);
      expect([shape("conv", "lora_A"), shape("conv", "lora_B")]).toEqual([[2, 2, 3, 1], [4, 2, 1, 1]]);
      const emb = getAt(m, ["emb"]);
      expect(slotParam(emb, "lora_embedding_A", "default").shape).toEqual([2, 9]);
      expect(slotParam(emb, "lora_embedding_B", "default").shape).toEqual([6, 2]);
      // init_lora_weights=true: B = 0 (linear kinds), A = 0 (embedding)
      const zero = (x: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]) === 0;
      expect(zero(slotModule(getAt(m, ["lin"]), "lora_B", "default").params["weight"] as tf.Tensor)).toBe(true);
      expect(zero(slotModule(getAt(m, ["lin"]), "lora_A", "default").params["weight"] as tf.Tensor)).toBe(false);
      expect(zero(slotParam(emb, "lora_embedding_A", "default"))).toBe(true);
      expect(zero(slotParam(emb, "lora_embedding_B", "default"))).toBe(false);
      disposeTree(m);
    }));

  it("conv1d (fan_in_fan_out): the delta is in the base's [in, out] layout", () =>
    leakFree(() => {
      const m = inject(sequential({ c: conv1d({ inFeatures: 5, outFeatures: 7 }, 1) }), lora, loraConfig({ r: 2, fanInFanOut: true, targetModules: ["c"], initLoraWeights: false }));
      const layer = getAt(m, ["c"]);
      const d = loraDelta(layer, "default");
      expect(d.shape).toEqual([5, 7]);
      const a = slotModule(layer, "lora_A", "default").params["weight"] as tf.Tensor;
      const b = slotModule(layer, "lora_B", "default").params["weight"] as tf.Tensor;
      const want = tf.tidy(() => tf.transpose(tf.mul(tf.matMul(b, a), 8 / 2)));
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(d, want))).dataSync()[0])).toBeLessThan(1e-6);
      tf.dispose([d, want]);
      disposeTree(m);
    }));

  it("gaussian init: B = 0 and A ~ N(0, 1/r); data-driven inits are refused by name", () =>
    leakFree(() => {
      const base = sequential({ lin: linear({ inFeatures: 64, outFeatures: 3 }, 0) });
      const m = inject(base, lora, loraConfig({ r: 4, targetModules: ["lin"], initLoraWeights: "gaussian" }));
      const a = slotModule(getAt(m, ["lin"]), "lora_A", "default").params["weight"] as tf.Tensor;
      const std = tf.tidy(() => Math.sqrt(tf.mean(tf.square(a)).dataSync()[0] as number));
      expect(std).toBeGreaterThan(0.2);
      expect(std).toBeLessThan(0.3);
      disposeTree(m);
      expect(() => inject(base, lora, loraConfig({ targetModules: ["lin"], initLoraWeights: "pissa" }))).toThrow(/init_lora_weights='pissa' is not supported \(supported: true, false, "gaussian"\)/);
      disposeTree(base);
    }));

  it("refuses what PEFT refuses: lora_bias on embeddings, grouped convs", () =>
    leakFree(() => {
      const model = sequential({ emb: embedding({ numEmbeddings: 9, dim: 6 }, 3), g: conv2d({ inChannels: 4, outChannels: 4, kernelSize: 1, groups: 2 }, 0) });
      expect(() => inject(model, lora, loraConfig({ targetModules: ["emb"], loraBias: true }))).toThrow(/emb: lora_bias is not supported for embeddings/);
      expect(() => inject(model, lora, loraConfig({ targetModules: ["g"] }))).toThrow(/g: LoRA on grouped conv2d \(groups=2\)/);
      // emb is adapted first, then g fails: what was made for emb is freed (leakFree checks)
      expect(() => inject(model, lora, loraConfig({ targetModules: ["emb", "g"] }))).toThrow(/groups=2/);
      disposeTree(model);
    }));
});

describe("adapter names", () => {
  it("rejects path tricks, empty names and slot names; accepts plain ones", () => {
    for (const bad of ["../x", "..", "a/b", "/abs", "", "lora_A", "lora_B", "lora_embedding_A", "base_layer", "modules_to_save", ".hidden", "-x", "a..b", "a\\b", "x y"]) {
      expect(() => validateAdapterName(bad, lora.slots), bad).toThrow(/invalid adapter name/);
    }
    for (const ok of ["default", "other", "adapter-1.v2", "A_b", "0"]) expect(() => validateAdapterName(ok, lora.slots)).not.toThrow();
  });
});
