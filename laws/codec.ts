/**
 * Laws of codecs (io-ts `t.Type`s and config field tables), as pure predicates:
 *
 *   decode-encode:  decode(encode(a)) = Right(a)
 *   json:           decode(JSON.parse(JSON.stringify(encode(a)))) = Right(a)
 *                   (what adapter_config.json does to a config)
 *   defaults:       a field missing from the JSON decodes to its default
 *                   (PEFT fills absent keys the same way)
 *   sound:          every value of a derived arbitrary decodes
 *
 * Equality is {@link deepEqual} (JSON-style) unless you pass one.
 */
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { Fields, JsonConfig } from "../src/tuners/config.js";
import { deepEqual } from "./eq.js";

/**
 * decode ∘ encode = id.
 *
 * @example
 *   decodeEncode(LoraConfig)(loraConfig({ r: 4 })) // true
 */
export const decodeEncode =
  <A, O>(codec: t.Type<A, O, unknown>, eq: (x: A, y: A) => boolean = deepEqual) =>
  (a: A): boolean => {
    const r = codec.decode(codec.encode(a));
    return E.isRight(r) && eq(r.right, a);
  };

/**
 * decode ∘ parse ∘ stringify ∘ encode = id: the value survives a JSON file.
 *
 * @example
 *   jsonRoundTrip(LoraConfig)(loraConfig({ r: 4 })) // true
 */
export const jsonRoundTrip =
  <A, O>(codec: t.Type<A, O, unknown>, eq: (x: A, y: A) => boolean = deepEqual) =>
  (a: A): boolean => {
    const text = JSON.stringify(codec.encode(a));
    if (text === undefined) return false;
    const r = codec.decode(JSON.parse(text));
    return E.isRight(r) && eq(r.right, a);
  };

/**
 * The value decodes (a derived arbitrary only yields what the codec accepts).
 *
 * @example
 *   decodes(LayerSpec)({ name: "lin0", op: "linear" }) // true
 */
export const decodes =
  <A, O>(codec: t.Type<A, O, unknown>) =>
  (u: unknown): boolean =>
    E.isRight(codec.decode(u));

/**
 * Dropping fields from a config's JSON decodes them to their defaults, and
 * keeps the rest.
 *
 * @example
 *   defaultsFill(LoraConfig, loraFields)(cfg, ["r"]) // decode(json without "r").r === 8
 */
export const defaultsFill =
  <A, F extends Fields>(codec: t.Type<A, JsonConfig, unknown>, fields: F) =>
  (a: A, drop: ReadonlyArray<keyof F & string>): boolean => {
    const keys = new Set(drop.map((d) => (fields[d] as F[keyof F]).key));
    const json = Object.fromEntries(Object.entries(codec.encode(a)).filter(([k]) => !keys.has(k)));
    const r = codec.decode(json);
    if (E.isLeft(r)) return false;
    const got = r.right as Record<string, unknown>;
    return Object.entries(fields).every(([camel, f]) =>
      deepEqual(got[camel], drop.includes(camel) ? f.default : (a as Record<string, unknown>)[camel]),
    );
  };
