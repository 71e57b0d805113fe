/**
 * The safetensors data model: dtypes, raw tensors, parsed files and the one
 * error type every safetensors function reports.
 *
 * Pure and dependency-free (no tfjs, no Node), so it runs in a browser.
 *
 * File layout (little-endian throughout):
 *
 * ```text
 * [u64 N][N bytes of UTF-8 JSON header, space-padded][data buffer]
 * header = {"__metadata__": {str: str}?, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, …}
 * ```
 *
 * `data_offsets` are relative to the start of the data buffer; the tensors
 * must tile the buffer exactly (no overlap, no hole, nothing after the last).
 */

/**
 * Every element type the format names, in the reference implementation's rank order (smallest first).
 *
 * @example
 *   DTYPES.includes("BF16") // true
 */
export const DTYPES = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "F64",
  "I64",
  "U64",
] as const;

/**
 * A safetensors element type.
 *
 * @example
 *   const d: Dtype = "BF16";
 */
export type Dtype = (typeof DTYPES)[number];

/**
 * Bytes per element of each dtype.
 *
 * @example
 *   DTYPE_SIZE.BF16 // 2
 */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/**
 * Position of a dtype in the reference (Rust) `Dtype` enum. The writer lays
 * tensors out by descending rank, then by name, exactly as the reference does;
 * because rank never decreases while size grows, every tensor then starts at a
 * multiple of its element size (the header is padded to 8 bytes).
 *
 * @example
 *   dtypeRank("I64") > dtypeRank("F32") // true: I64 tensors come first
 */
export const dtypeRank = (dtype: Dtype): number => DTYPES.indexOf(dtype);

/**
 * Type guard for dtype names.
 *
 * @example
 *   isDtype("F32") // true
 *   isDtype("Q7")  // false
 */
export const isDtype = (s: unknown): s is Dtype =>
  typeof s === "string" && (DTYPES as ReadonlyArray<string>).includes(s);

/**
 * One tensor as stored: dtype, shape and its little-endian bytes. When it
 * comes from {@link parseSafetensors} `bytes` is a view into the file buffer,
 * not a copy.
 *
 * @example
 *   const one: RawTensor = { dtype: "F32", shape: [1], bytes: new Uint8Array([0, 0, 0x80, 0x3f]) };
 */
export interface RawTensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/**
 * A parsed safetensors file. `tensors` iterates in header order.
 *
 * @example
 *   const f: SafetensorsFile = { tensors: new Map(), metadata: { format: "pt" } };
 */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, RawTensor>;
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

/**
 * Every distinct problem a safetensors function can report.
 *
 * @example
 *   const retryable = (t: SafetensorsErrorTag) => t === "ReadFailed" || t === "WriteFailed";
 */
export type SafetensorsErrorTag =
  // reading a file's bytes
  | "FileTooShort"
  | "HeaderTooLarge"
  | "HeaderPastEnd"
  | "HeaderNotUtf8"
  | "HeaderNotJson"
  | "HeaderNotObject"
  | "InvalidMetadata"
  | "InvalidTensorEntry"
  | "DuplicateTensor"
  | "UnknownDtype"
  | "InvalidShape"
  | "InvalidOffsets"
  | "OffsetsOutOfRange"
  | "OverlappingTensors"
  | "DataHole"
  | "ByteLengthMismatch"
  // writing
  | "ReservedName"
  | "InvalidName"
  // converting to / from tfjs
  | "UnsupportedDtype"
  | "ValueOutOfRange"
  // files and sharded checkpoints
  | "ReadFailed"
  | "WriteFailed"
  | "InvalidIndex"
  | "UnsafeShardName"
  | "MissingShard"
  | "MissingTensor"
  | "NoCheckpoint";

/**
 * A tagged error value. `message` is complete on its own: it names the file
 * (`source`, when known), the tensor (when there is one) and the problem.
 *
 * @example
 *   if (E.isLeft(r) && r.left._tag === "UnknownDtype") console.error(r.left.message);
 */
export interface SafetensorsError {
  readonly _tag: SafetensorsErrorTag;
  readonly message: string;
  readonly source?: string;
  readonly tensor?: string;
}

/**
 * Build a {@link SafetensorsError}; the message is prefixed with where it
 * happened (`<source>: tensor "<name>": <problem>`).
 *
 * @example
 *   stError("UnknownDtype", 'unknown dtype "Q7"', { source: "a.safetensors", tensor: "w" }).message
 *   // 'a.safetensors: tensor "w": unknown dtype "Q7"'
 */
export const stError = (
  _tag: SafetensorsErrorTag,
  problem: string,
  where: { readonly source?: string | undefined; readonly tensor?: string | undefined } = {},
): SafetensorsError => {
  const prefix =
    (where.source === undefined ? "" : `${where.source}: `) +
    (where.tensor === undefined ? "" : `tensor ${JSON.stringify(where.tensor)}: `);
  return {
    _tag,
    message: prefix + problem,
    ...(where.source === undefined ? {} : { source: where.source }),
    ...(where.tensor === undefined ? {} : { tensor: where.tensor }),
  };
};

/**
 * The exception thrown at the throwing / async edges (file helpers,
 * {@link toTfTensor}, {@link serializeSafetensors}). `detail` is the tagged
 * error value; `message` is the same text.
 *
 * @example
 *   try { await readSafetensorsFile("x.safetensors"); }
 *   catch (e) { if (e instanceof SafetensorsException) console.log(e.detail._tag); }
 */
export class SafetensorsException extends Error {
  override readonly name = "SafetensorsException";
  constructor(readonly detail: SafetensorsError) {
    super(detail.message);
  }
}

/**
 * Number of bytes `shape` × `dtype` occupies, or `undefined` when the shape is
 * not a list of non-negative safe integers. Never overflows silently: a byte
 * count past `Number.MAX_SAFE_INTEGER` is reported as `Infinity`.
 *
 * @example
 *   byteLengthOf("F16", [2, 3]) // 12
 */
export const byteLengthOf = (dtype: Dtype, shape: readonly unknown[]): number | undefined => {
  let n = DTYPE_SIZE[dtype];
  let overflow = false;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) return undefined;
    if (d === 0) return 0;
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) overflow = true;
  }
  return overflow ? Infinity : n;
};

/**
 * True when the host stores multi-byte numbers little-endian (every platform Node ships on).
 *
 * @example
 *   HOST_LITTLE_ENDIAN // true on x86-64 and arm64
 */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * False when `s` holds an unpaired UTF-16 surrogate, which cannot be written
 * as UTF-8 and which the reference reader rejects in JSON.
 *
 * @example
 *   isWellFormed("\u{1F600}") // true
 *   isWellFormed("\uD800")    // false
 */
export const isWellFormed = (s: string): boolean => !/[\uD800-\uDFFF]/u.test(s);
