/**
 * Writing safetensors bytes, in exactly the layout the reference (Rust)
 * implementation produces, so a file written here is byte-for-byte what
 * Python's `safetensors.torch.save_file` writes for the same tensors:
 *
 * - tensors are laid out (and listed in the header) by descending dtype rank
 *   (the reference's `Dtype` enum order: U64, I64, F64, F32, U32, I32, BF16,
 *   F16, U16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by name in code-point
 *   (= UTF-8 byte) order. Each tensor therefore starts at a multiple of its
 *   element size, so readers can view it as a typed array without copying;
 * - `"__metadata__"` comes first when given, keys in the given order;
 * - the JSON is compact and padded with spaces to a multiple of 8 bytes.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  type RawTensor,
  type SafetensorsError,
  byteLengthOf,
  dtypeRank,
  isDtype,
  isWellFormed,
  SafetensorsException,
  stError,
} from "./format.js";

/**
 * Tensors to write: any iterable of `[name, tensor]` pairs (a `Map`, an
 * array, a generator) or a plain record.
 *
 * @example
 *   const t: TensorEntries = { w: { dtype: "U8", shape: [2], bytes: new Uint8Array([1, 2]) } };
 */
export type TensorEntries = Iterable<readonly [string, RawTensor]> | Readonly<Record<string, RawTensor>>;

/**
 * The encoded file as pieces: `head` (length prefix + padded header), then
 * each tensor's bytes in file order; `byteLength` is the file size.
 *
 * @example
 *   const r = encodeSafetensorsParts({ w: raw });
 *   if (E.isRight(r)) r.right.byteLength; // 8 + padded header + data bytes
 */
export interface EncodedSafetensors {
  readonly head: Uint8Array;
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

const entriesOf = (tensors: TensorEntries): Array<readonly [string, RawTensor]> =>
  Symbol.iterator in tensors
    ? [...(tensors as Iterable<readonly [string, RawTensor]>)]
    : Object.entries(tensors as Readonly<Record<string, RawTensor>>);

/**
 * Compare strings by Unicode code point, which is the order of their UTF-8
 * bytes (Rust's `str` order). Plain `<` compares UTF-16 code units and
 * disagrees for characters above U+FFFF vs U+E000–U+FFFF.
 *
 * @example
 *   ["b", "a", "\u{1F600}", "\uFFFD"].sort(compareCodePoints) // ["a", "b", "\uFFFD", "\u{1F600}"]
 */
export const compareCodePoints = (a: string, b: string): number => {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(j) as number;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
};

/**
 * The order tensors are laid out in: descending dtype rank, then name.
 *
 * @example
 *   layoutOrder([["b", f32], ["a", i64], ["a2", f32]]).map(([n]) => n) // ["a", "a2", "b"]
 */
export const layoutOrder = <T extends { readonly dtype: RawTensor["dtype"] }>(
  entries: ReadonlyArray<readonly [string, T]>,
): Array<readonly [string, T]> =>
  [...entries].sort(
    ([na, a], [nb, b]) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || compareCodePoints(na, nb),
  );

const validate = (
  entries: ReadonlyArray<readonly [string, RawTensor]>,
  metadata: Readonly<Record<string, string>> | undefined,
): E.Either<SafetensorsError, void> => {
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    const where = { tensor: name };
    if (name === "__metadata__") {
      return E.left(stError("ReservedName", '"__metadata__" is reserved for the metadata map', where));
    }
    if (!isWellFormed(name)) {
      return E.left(stError("InvalidName", "the name contains an unpaired UTF-16 surrogate", where));
    }
    if (seen.has(name)) return E.left(stError("DuplicateTensor", "the name is given more than once", where));
    seen.add(name);
    if (!isDtype(t.dtype)) {
      return E.left(stError("UnknownDtype", `unknown dtype ${JSON.stringify(t.dtype)}`, where));
    }
    const expected = byteLengthOf(t.dtype, t.shape);
    if (expected === undefined) {
      return E.left(
        stError("InvalidShape", `shape must be a list of non-negative integers, got ${JSON.stringify(t.shape)}`, where),
      );
    }
    if (expected !== t.bytes.length) {
      return E.left(
        stError(
          "ByteLengthMismatch",
          `shape [${t.shape.join(", ")}] of ${t.dtype} needs ${expected} bytes, got ${t.bytes.length}`,
          where,
        ),
      );
    }
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        return E.left(stError("InvalidMetadata", `metadata value for ${JSON.stringify(k)} is not a string`));
      }
      if (!isWellFormed(k) || !isWellFormed(v)) {
        return E.left(
          stError("InvalidMetadata", `metadata entry ${JSON.stringify(k)} contains an unpaired UTF-16 surrogate`),
        );
      }
    }
  }
  return E.right(undefined);
};

/**
 * Encode to the pieces of a file without concatenating them (for streaming
 * writes of large checkpoints). See {@link encodeSafetensors}.
 *
 * @example
 *   const r = encodeSafetensorsParts({ w: raw });
 *   if (E.isRight(r)) for (const p of [r.right.head, ...r.right.parts]) await fh.write(p);
 */
export const encodeSafetensorsParts = (
  tensors: TensorEntries,
  metadata?: Readonly<Record<string, string>>,
): E.Either<SafetensorsError, EncodedSafetensors> => {
  const entries = entriesOf(tensors);
  const ok = validate(entries, metadata);
  if (E.isLeft(ok)) return ok;
  const ordered = layoutOrder(entries);
  // Built by hand: a JS object would move integer-like names ("0", "12") to the front.
  const fields: string[] = [];
  if (metadata !== undefined) {
    const m = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    fields.push(`"__metadata__":{${m.join(",")}}`);
  }
  let offset = 0;
  for (const [name, t] of ordered) {
    const end = offset + t.bytes.length;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(",")}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + n);
  const view = new DataView(head.buffer);
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length);
  return E.right({ head, parts: ordered.map(([, t]) => t.bytes), byteLength: head.length + offset });
};

/**
 * Encode tensors (and optional string metadata) as one safetensors file.
 * Fails on a reserved or duplicate name, an unknown dtype, a bad shape, or
 * bytes whose length does not match shape × dtype.
 *
 * @example
 *   const r = encodeSafetensors({ w: { dtype: "F32", shape: [1], bytes: new Uint8Array([0, 0, 0x80, 0x3f]) } }, { format: "pt" });
 */
export const encodeSafetensors = (
  tensors: TensorEntries,
  metadata?: Readonly<Record<string, string>>,
): E.Either<SafetensorsError, Uint8Array> =>
  E.map((enc: EncodedSafetensors) => {
    const out = new Uint8Array(enc.byteLength);
    out.set(enc.head, 0);
    let at = enc.head.length;
    for (const p of enc.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  })(encodeSafetensorsParts(tensors, metadata));

/**
 * {@link encodeSafetensors} that throws a {@link SafetensorsException} on bad input.
 *
 * @example
 *   const bytes = serializeSafetensors(new Map([["ids", { dtype: "I64", shape: [0], bytes: new Uint8Array(0) }]]));
 *   parseSafetensors(bytes); // Right, with "ids"
 */
export const serializeSafetensors = (
  tensors: TensorEntries,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array => {
  const r = encodeSafetensors(tensors, metadata);
  if (E.isLeft(r)) throw new SafetensorsException(r.left);
  return r.right;
};
