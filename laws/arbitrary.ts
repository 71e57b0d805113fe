/**
 * fast-check arbitraries derived from io-ts codecs (io-ts's own
 * `test/Arbitrary.ts` idea): walk the codec's structure by `_tag` and build
 * an arbitrary of the values it decodes to, so the codec laws run on what the
 * codec describes, not on hand-picked samples. Refinements filter their base
 * arbitrary with the predicate; numbers are JSON-safe (finite, no −0) and
 * biased towards integers and [0, 1) so common refinements are hit often.
 *
 * Config field tables (src/tuners/config.ts) are not io-ts structures (their
 * codec is a custom `t.Type`), so {@link arbConfigOf} derives the config's
 * arbitrary from each field's codec, plus unknown keys for `extra`.
 */
import * as fc from "fast-check";
import type * as t from "io-ts";
import type { ConfigOf, Fields } from "../src/tuners/config.js";

/** Options of {@link arbitraryOf}. */
export interface ArbitraryOptions {
  /** An arbitrary to use for a codec instead of the derived one (custom `t.Type`s, or to narrow). */
  readonly overrides?: (codec: t.Mixed) => fc.Arbitrary<unknown> | undefined;
  /** How deep recursive codecs, arrays of arrays and JSON values go. Default 3. */
  readonly maxDepth?: number;
  /** Maximal length of arrays and dictionaries. Default 4. */
  readonly maxLength?: number;
}

/** A JSON-safe number: finite, never −0, often an integer or in [0, 1). */
export const arbJsonNumber: fc.Arbitrary<number> = fc
  .oneof(
    fc.integer({ min: -1000, max: 1000 }),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    fc.double({ min: -16, max: 16, noNaN: true }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  )
  .map((x) => (Object.is(x, -0) ? 0 : x));

/** Strings, ASCII mostly, some with any code point (JSON escapes them). */
export const arbJsonString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
);

/** Any JSON value, shallow. */
export const arbJson = (maxDepth = 2): fc.Arbitrary<unknown> => fc.jsonValue({ maxDepth });

const tagOf = (c: t.Mixed): string | undefined => (c as unknown as { _tag?: unknown })._tag as string | undefined;

/** The keys of a finite dictionary domain (`t.keyof`, literals, unions of them), or undefined. */
const finiteKeys = (domain: t.Mixed): ReadonlyArray<string> | undefined => {
  const d = domain as unknown as { _tag?: string; keys?: object; value?: unknown; types?: ReadonlyArray<t.Mixed> };
  switch (d._tag) {
    case "KeyofType":
      return Object.keys(d.keys as object);
    case "LiteralType":
      return [String(d.value)];
    case "UnionType": {
      const parts = (d.types ?? []).map(finiteKeys);
      return parts.every((p) => p !== undefined) ? parts.flat() as string[] : undefined;
    }
    default:
      return undefined;
  }
};

/**
 * An arbitrary of the values a codec decodes to, derived from its structure.
 * Supported `_tag`s: NumberType, StringType, BooleanType, NullType,
 * UndefinedType, VoidType, UnknownType, AnyType, BigIntType, LiteralType,
 * KeyofType, UnionType, ArrayType, ReadonlyArrayType, AnyArrayType,
 * DictionaryType, AnyDictionaryType, ObjectType, InterfaceType, PartialType,
 * IntersectionType, TupleType, ExactType, StrictType, ReadonlyType,
 * RefinementType (filters the base with the predicate) and RecursiveType.
 * Anything else (a custom `t.Type`, FunctionType, NeverType) is an error
 * naming the codec, unless `overrides` supplies an arbitrary.
 *
 * @example
 *   fc.assert(fc.property(arbitraryOf(LayerSpec), (x) => E.isRight(LayerSpec.decode(x))))
 */
export const arbitraryOf = <A>(codec: t.Type<A, any, unknown>, options: ArbitraryOptions = {}): fc.Arbitrary<A> => {
  const maxDepth = options.maxDepth ?? 3;
  const maxLength = options.maxLength ?? 4;
  const go = (c: t.Mixed, depth: number): fc.Arbitrary<unknown> => {
    const o = options.overrides?.(c);
    if (o !== undefined) return o;
    const any = c as unknown as Record<string, any>;
    const deeper = depth >= maxDepth;
    switch (tagOf(c)) {
      case "NumberType":
        return arbJsonNumber;
      case "StringType":
        return arbJsonString;
      case "BooleanType":
        return fc.boolean();
      case "NullType":
        return fc.constant(null);
      case "UndefinedType":
      case "VoidType":
        return fc.constant(undefined);
      case "UnknownType":
      case "AnyType":
        return arbJson(Math.max(0, maxDepth - depth));
      case "BigIntType":
        return fc.bigInt();
      case "LiteralType":
        return fc.constant(any["value"]);
      case "KeyofType":
        return fc.constantFrom(...Object.keys(any["keys"] as object));
      case "UnionType":
        return fc.oneof(...(any["types"] as ReadonlyArray<t.Mixed>).map((m) => go(m, depth)));
      case "ArrayType":
      case "ReadonlyArrayType":
        return deeper ? fc.constant([]) : fc.array(go(any["type"] as t.Mixed, depth + 1), { maxLength });
      case "AnyArrayType":
        return deeper ? fc.constant([]) : fc.array(arbJson(1), { maxLength });
      case "AnyDictionaryType":
      case "ObjectType":
        return fc.dictionary(arbJsonString, arbJson(1), { maxKeys: deeper ? 0 : maxLength });
      case "DictionaryType": {
        const domain = any["domain"] as t.Mixed;
        const keys = finiteKeys(domain);
        if (keys === undefined && deeper) return fc.constant({});
        const value = go(any["codomain"] as t.Mixed, depth + 1);
        if (keys !== undefined) return fc.record(Object.fromEntries(keys.map((k) => [k, value])));
        const keyArb = go(domain, depth + 1).filter((k): k is string => typeof k === "string");
        return fc.dictionary(keyArb, value, { maxKeys: maxLength });
      }
      case "InterfaceType":
        return fc.record(
          Object.fromEntries(Object.entries(any["props"] as Record<string, t.Mixed>).map(([k, p]) => [k, go(p, depth + 1)])),
        );
      case "PartialType":
        return fc.record(
          Object.fromEntries(Object.entries(any["props"] as Record<string, t.Mixed>).map(([k, p]) => [k, go(p, depth + 1)])),
          { requiredKeys: [] },
        );
      case "IntersectionType":
        return fc
          .tuple(...(any["types"] as ReadonlyArray<t.Mixed>).map((m) => go(m, depth)))
          .map((parts) =>
            parts.every((p) => typeof p === "object" && p !== null && !Array.isArray(p))
              ? Object.assign({}, ...parts)
              : parts[parts.length - 1],
          );
      case "TupleType":
        return fc.tuple(...(any["types"] as ReadonlyArray<t.Mixed>).map((m) => go(m, depth + 1)));
      case "ExactType":
      case "StrictType":
      case "ReadonlyType":
        return go(any["type"] as t.Mixed, depth);
      case "RefinementType": {
        const pred = any["predicate"] as (x: unknown) => boolean;
        return go(any["type"] as t.Mixed, depth).filter((x) => pred(x));
      }
      case "RecursiveType":
        // lazily: arrays and dictionaries past maxDepth are empty, which ends the recursion
        return fc.constant(null).chain(() => go(any["type"] as t.Mixed, depth + 1));
      default:
        throw new Error(
          `arbitraryOf: cannot derive an arbitrary for codec '${c.name}' (_tag ${String(tagOf(c))}); pass one through 'overrides'`,
        );
    }
  };
  return go(codec as unknown as t.Mixed, 0) as fc.Arbitrary<A>;
};

/** Options of {@link arbConfigOf}. */
export interface ConfigArbitraryOptions extends ArbitraryOptions {
  /** Also generate unknown keys (as a newer PEFT writes) into `extra`. Default true. */
  readonly extra?: boolean;
}

/**
 * An arbitrary of the configs a field table describes: each field from its
 * codec, and `extra` with unknown JSON keys (never a field's key; awkward ones
 * like `__proto__` and `constructor` included).
 *
 * @example
 *   fc.assert(fc.property(arbConfigOf(loraFields), (c) => decodeEncode(LoraConfig)(c)))
 */
export const arbConfigOf = <F extends Fields>(fields: F, options: ConfigArbitraryOptions = {}): fc.Arbitrary<ConfigOf<F>> => {
  const known = new Set(Object.values(fields).map((f) => f.key));
  const extra =
    options.extra ?? true
      ? fc.dictionary(
          fc.oneof(fc.constantFrom("new_field", "use_future_thing", "__proto__", "constructor", "toString"), arbJsonString).filter((k) => !known.has(k)),
          arbJson(2),
          { maxKeys: 3 },
        )
      : fc.constant({});
  return fc
    .tuple(fc.record(Object.fromEntries(Object.entries(fields).map(([camel, f]) => [camel, arbitraryOf(f.codec, options)]))), extra)
    .map(([c, x]) => ({ ...c, extra: x }) as unknown as ConfigOf<F>);
};
