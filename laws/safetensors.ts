/**
 * Laws of the safetensors codec, as pure predicates plus fast-check
 * properties (fp-ts-laws style). Run one in a test with
 * `fc.assert(safetensorsLaws.readWrite())`.
 *
 * - readWrite: parse ∘ serialize = id, byte for byte (names, dtypes,
 *   shapes, data, metadata).
 * - canonical: serialize ∘ parse ∘ serialize = serialize (the writer's output
 *   is a fixed point: one layout per content).
 * - total: parse never throws, whatever the bytes; it returns Left or Right,
 *   and a Right is self-consistent.
 */
import * as fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  byteLengthOf,
  DTYPES,
  type Dtype,
  isWellFormed,
  parseSafetensors,
  type RawTensor,
  serializeSafetensors,
} from "../src/io/safetensors/index.js";

/**
 * What the writer takes: named tensors (unique names) and optional metadata.
 *
 * @example
 *   const x: SafetensorsInput = { tensors: [["w", { dtype: "U8", shape: [1], bytes: new Uint8Array([7]) }]] };
 */
export interface SafetensorsInput {
  readonly tensors: ReadonlyArray<readonly [string, RawTensor]>;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Two raw tensors are equal: same dtype, same shape, same bytes.
 *
 * @example
 *   sameRawTensor(t, { ...t, bytes: t.bytes.slice() }) // true
 */
export const sameRawTensor = (a: RawTensor, b: RawTensor): boolean =>
  a.dtype === b.dtype &&
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d === b.shape[i]) &&
  sameBytes(a.bytes, b.bytes);

const sameMetadata = (
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): boolean => {
  if (a === undefined || b === undefined) return a === b;
  const ea = Object.entries(a);
  return ea.length === Object.keys(b).length && ea.every(([k, v]) => Object.prototype.hasOwnProperty.call(b, k) && b[k] === v);
};

/**
 * parse(serialize(x)) has exactly x's tensors (byte for byte) and metadata.
 *
 * @example
 *   readWriteIdentity({ tensors: [["w", { dtype: "F16", shape: [1], bytes: new Uint8Array([0, 0x3c]) }]] }) // true
 */
export const readWriteIdentity = (x: SafetensorsInput): boolean => {
  const parsed = parseSafetensors(serializeSafetensors(x.tensors, x.metadata));
  if (E.isLeft(parsed)) return false;
  const { tensors, metadata } = parsed.right;
  return (
    tensors.size === x.tensors.length &&
    x.tensors.every(([name, t]) => {
      const back = tensors.get(name);
      return back !== undefined && sameRawTensor(t, back);
    }) &&
    sameMetadata(x.metadata, metadata)
  );
};

/**
 * Writing what was read from the writer's output gives the same bytes.
 *
 * @example
 *   canonicalWrite({ tensors: [], metadata: { format: "pt" } }) // true
 */
export const canonicalWrite = (x: SafetensorsInput): boolean => {
  const once = serializeSafetensors(x.tensors, x.metadata);
  const parsed = parseSafetensors(once);
  return E.isRight(parsed) && sameBytes(serializeSafetensors(parsed.right.tensors, parsed.right.metadata), once);
};

/**
 * Parsing arbitrary bytes never throws, and a Right only holds tensors whose
 * byte length matches their shape and dtype.
 *
 * @example
 *   parseIsTotal(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])) // true (a Left)
 */
export const parseIsTotal = (bytes: Uint8Array): boolean => {
  try {
    const r = parseSafetensors(bytes, "fuzz");
    return (
      E.isLeft(r) ||
      [...r.right.tensors.values()].every((t) => byteLengthOf(t.dtype, t.shape) === t.bytes.length)
    );
  } catch {
    return false;
  }
};

/**
 * Any dtype the format names.
 *
 * @example
 *   fc.sample(arbDtype, 3) // e.g. ["BF16", "U8", "I64"]
 */
export const arbDtype: fc.Arbitrary<Dtype> = fc.constantFrom(...DTYPES);

/**
 * A raw tensor of the given (or any) dtype, 0–3 dimensions of 0–4 each, random bytes.
 *
 * @example
 *   fc.sample(arbRawTensor(), 1)
 */
export const arbRawTensor = (dtype: fc.Arbitrary<Dtype> = arbDtype): fc.Arbitrary<RawTensor> =>
  fc
    .tuple(dtype, fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }))
    .chain(([d, shape]) =>
      fc
        .uint8Array({ minLength: byteLengthOf(d, shape) ?? 0, maxLength: byteLengthOf(d, shape) ?? 0 })
        .map((bytes): RawTensor => ({ dtype: d, shape, bytes })),
    );

/**
 * Tensor names, including the awkward ones: empty, integer-like, `__proto__`, non-ASCII, astral.
 *
 * @example
 *   fc.sample(arbTensorName, 3) // e.g. ["0", "κ😀", "a.b.0.weight"]
 */
export const arbTensorName: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: "binary", maxLength: 10 }),
    fc.constantFrom("", "0", "12", "__proto__", "a.b.0.weight", "κ\u{1F600}", "\uFFFD", 'q"\\\n'),
  )
  .filter((s) => s !== "__metadata__" && isWellFormed(s));

/**
 * Writer input: up to 6 uniquely named tensors and optional metadata.
 *
 * @example
 *   fc.assert(fc.property(arbSafetensorsInput(), readWriteIdentity));
 */
export const arbSafetensorsInput = (tensor: fc.Arbitrary<RawTensor> = arbRawTensor()): fc.Arbitrary<SafetensorsInput> =>
  fc.record({
    tensors: fc.uniqueArray(fc.tuple(arbTensorName, tensor), { maxLength: 6, selector: ([name]) => name }),
    metadata: fc.option(
      fc.dictionary(
        fc.string({ unit: "binary", maxLength: 8 }).filter(isWellFormed),
        fc.string({ unit: "binary", maxLength: 8 }).filter(isWellFormed),
        { maxKeys: 3 },
      ),
      { nil: undefined },
    ),
  });

/**
 * Hostile bytes: valid files with bytes overwritten, truncated or extended,
 * and plain random bytes.
 *
 * @example
 *   fc.assert(fc.property(arbHostileBytes(), parseIsTotal));
 */
export const arbHostileBytes = (): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .tuple(
        arbSafetensorsInput(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 9 }),
      )
      .map(([x, edits, cut, extra]) => {
        const valid = serializeSafetensors(x.tensors, x.metadata);
        const bytes = new Uint8Array(valid.length + extra.length);
        bytes.set(valid);
        bytes.set(extra, valid.length);
        for (const [at, v] of edits) bytes[at % bytes.length] = v;
        return cut % 3 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
      }),
  );

/**
 * The laws as fast-check properties; each takes an optional arbitrary.
 *
 * @example
 *   fc.assert(safetensorsLaws.readWrite(), { numRuns: 200 });
 */
export const safetensorsLaws = {
  readWrite: (arb: fc.Arbitrary<SafetensorsInput> = arbSafetensorsInput()) => fc.property(arb, readWriteIdentity),
  canonical: (arb: fc.Arbitrary<SafetensorsInput> = arbSafetensorsInput()) => fc.property(arb, canonicalWrite),
  total: (arb: fc.Arbitrary<Uint8Array> = arbHostileBytes()) => fc.property(arb, parseIsTotal),
};
