/**
 * The codec laws as fast-check suites: any io-ts codec, and a config codec
 * built from a field table.
 */
import * as fc from "fast-check";
import type * as t from "io-ts";
import type { ConfigOf, Fields, JsonConfig } from "../../src/tuners/config.js";
import { defaultsOf } from "../../src/tuners/config.js";
import { arbConfigOf, arbitraryOf, type ArbitraryOptions } from "../arbitrary.js";
import { decodeEncode, defaultsFill, jsonRoundTrip } from "../codec.js";
import { params, type RunOptions } from "./run.js";

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
