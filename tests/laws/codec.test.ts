/**
 * decode ∘ encode = id for the config codecs (arbitraries derived from the
 * field tables) and for plain io-ts codecs (arbitraries derived from the
 * codec's structure), and proof the codec laws can fail.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { baseFields, configCodec, field, LayerSpec, LoraConfig, loraFields, NonNegativeInt, PositiveInt, Rate } from "../../src/index.js";
import { arbConfigOf, arbitraryOf, codec as codecPredicates, codecLaws, configCodecLaws } from "../../laws/index.js";
import { failure } from "./models.js";


describe("config codecs (field tables)", () => {
  it("LoraConfig: decode∘encode = id, through JSON, defaults fill absent keys", () => {
    configCodecLaws(LoraConfig, loraFields, { numRuns: 50 });
  });

  it("the base fields alone", () => {
    configCodecLaws(configCodec("BaseConfig", baseFields), baseFields, { numRuns: 50 });
  });

  it("derived configs really vary: refinements are respected and unknown keys appear", () => {
    const sample = fc.sample(arbConfigOf(loraFields), { numRuns: 200, seed: 42 });
    expect(sample.every((c) => Number.isInteger(c.r) && c.r > 0)).toBe(true);
    expect(sample.every((c) => c.loraDropout >= 0 && c.loraDropout < 1)).toBe(true);
    expect(sample.every((c) => ["none", "all", "lora_only"].includes(c.bias))).toBe(true);
    expect(new Set(sample.map((c) => c.r)).size).toBeGreaterThan(5);
    expect(sample.some((c) => Object.keys(c.extra).length > 0)).toBe(true);
    expect(sample.some((c) => c.targetModules === null) && sample.some((c) => typeof c.targetModules === "string") && sample.some((c) => Array.isArray(c.targetModules))).toBe(true);
    expect(sample.every((c) => Object.keys(c.extra).every((k) => !Object.values(loraFields).some((f) => f.key === k)))).toBe(true);
  });
});

describe("io-ts codecs (structure-derived arbitraries)", () => {
  it("LayerSpec (intersection of interface and partial, unions with tuples)", () => {
    codecLaws(LayerSpec, undefined, { numRuns: 50 });
    fc.assert(fc.property(arbitraryOf(LayerSpec), codecPredicates.decodes(LayerSpec)), { numRuns: 50 });
  });

  it("every supported _tag", () => {
    const Leaf = t.type({ name: t.string });
    const Everything = t.intersection([
      t.type({
        n: t.number,
        s: t.string,
        b: t.boolean,
        z: t.null,
        lit: t.literal("LORA"),
        k: t.keyof({ none: null, all: null }),
        u: t.union([t.null, t.number, t.readonlyArray(t.string)]),
        arr: t.array(PositiveInt),
        dict: t.record(t.string, t.number),
        fixed: t.record(t.keyof({ a: null, b: null }), t.boolean),
        tup: t.tuple([t.number, t.string]),
        exact: t.exact(Leaf),
        strict: t.strict({ x: t.number }),
        ro: t.readonly(t.type({ y: NonNegativeInt })),
        rate: Rate,
        json: t.unknown,
      }),
      t.partial({ opt: t.string }),
    ]);
    codecLaws(Everything, undefined, { numRuns: 40 });
    const xs = fc.sample(arbitraryOf(Everything), { numRuns: 50, seed: 1 });
    expect(xs.every((x) => E.isRight(Everything.decode(x)))).toBe(true);
    expect(xs.every((x) => Object.keys(x.fixed).sort().join() === "a,b")).toBe(true);
    expect(xs.some((x) => "opt" in x) && xs.some((x) => !("opt" in x))).toBe(true);
  });

  it("recursive codecs stop at the depth limit", () => {
    interface Tree {
      readonly v: number;
      readonly kids: ReadonlyArray<Tree>;
    }
    const Tree: t.Type<Tree> = t.recursion("Tree", (self) => t.type({ v: t.number, kids: t.readonlyArray(self) }));
    codecLaws(Tree, arbitraryOf(Tree, { maxDepth: 4 }), { numRuns: 30 });
  });

  it("a custom t.Type without structure is an error naming it, unless overridden", () => {
    const Opaque = new t.Type<string, string, unknown>("Opaque", (u): u is string => typeof u === "string", (u, c) => (typeof u === "string" ? t.success(u) : t.failure(u, c)), (a) => a);
    expect(() => arbitraryOf(Opaque)).toThrow(/Opaque/);
    codecLaws(Opaque, arbitraryOf(Opaque, { overrides: (c) => (c === Opaque ? fc.string() : undefined) }), { numRuns: 20 });
  });
});

describe("the codec laws can fail", () => {
  it("an encoder that drops a field breaks decode∘encode", () => {
    const fields = { r: field("r", PositiveInt, 8), alpha: field("lora_alpha", t.number as t.Type<number, unknown, unknown>, 8) };
    const good = configCodec("Good", fields);
    const lossy = new t.Type<typeof good._A, Record<string, unknown>, unknown>(
      "Lossy",
      good.is,
      good.validate,
      (a) => {
        const { lora_alpha: _gone, ...rest } = good.encode(a);
        return rest;
      },
    );
    const c = { r: 4, alpha: 3, extra: {} };
    expect(codecPredicates.decodeEncode(good)(c)).toBe(true);
    expect(codecPredicates.decodeEncode(lossy)(c)).toBe(false);
    expect(failure(() => configCodecLaws(lossy, fields, { numRuns: 30 }))).toMatch(/decode\(encode\(c\)\) ≠ c|defaults/);
  });

  it("a codec whose values do not survive JSON (a number field holding NaN) breaks the JSON law only", () => {
    const Num = t.type({ x: t.number });
    expect(codecPredicates.decodeEncode(Num)({ x: NaN })).toBe(false); // NaN ≠ NaN
    expect(codecPredicates.jsonRoundTrip(Num)({ x: 1e308 * 10 })).toBe(false); // Infinity → null
    expect(codecPredicates.jsonRoundTrip(Num)({ x: 1.5 })).toBe(true);
  });
});
