/**
 * Parsing safetensors bytes: validate everything, copy nothing.
 *
 * Every check happens before any allocation that depends on a number read
 * from the file, so hostile input (a header length of 2^50, offsets past the
 * end, shapes whose product overflows) yields a `Left`, never a RangeError or
 * an out-of-memory.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  type Dtype,
  type RawTensor,
  type SafetensorsError,
  type SafetensorsFile,
  byteLengthOf,
  DTYPES,
  isDtype,
  stError,
} from "./format.js";
import { checkHeaderLength, topLevelKeys } from "./header.js";

const METADATA_KEY = "__metadata__";

type Where = { readonly source?: string | undefined; readonly tensor?: string | undefined };

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

const parseMetadata = (
  value: unknown,
  where: Where,
): E.Either<SafetensorsError, Readonly<Record<string, string>> | undefined> => {
  // The reference reader accepts null as "no metadata"; so do we.
  if (value === null) return E.right(undefined);
  if (!isPlainObject(value)) {
    return E.left(
      stError("InvalidMetadata", `"__metadata__" must be an object of string values, got ${describe(value)}`, where),
    );
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      return E.left(
        stError(
          "InvalidMetadata",
          `"__metadata__" must map strings to strings, but key ${JSON.stringify(k)} has ${describe(v)}`,
          where,
        ),
      );
    }
  }
  return E.right(Object.freeze(Object.fromEntries(Object.entries(value))) as Record<string, string>);
};

const describe = (v: unknown): string => {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array (${truncate(JSON.stringify(v))})`;
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${truncate(JSON.stringify(v))}`;
  return `${typeof v} ${String(v)}`;
};

const truncate = (s: string, max = 80): string => (s.length > max ? `${s.slice(0, max)}…` : s);

interface Entry {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

const parseEntry = (
  name: string,
  value: unknown,
  dataLength: number,
  source: string | undefined,
): E.Either<SafetensorsError, Entry> => {
  const where = { source, tensor: name };
  if (!isPlainObject(value)) {
    return E.left(
      stError("InvalidTensorEntry", `expected {"dtype", "shape", "data_offsets"}, got ${describe(value)}`, where),
    );
  }
  const missing = ["dtype", "shape", "data_offsets"].filter((k) => !(k in value));
  if (missing.length > 0) {
    return E.left(stError("InvalidTensorEntry", `missing field(s) ${missing.join(", ")}`, where));
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDtype(dtype)) {
    return E.left(
      stError(
        "UnknownDtype",
        `unknown dtype ${typeof dtype === "string" ? JSON.stringify(truncate(dtype)) : describe(dtype)} (expected one of ${DTYPES.join(", ")})`,
        where,
      ),
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    return E.left(stError("InvalidShape", `shape must be a list of non-negative integers, got ${describe(shape)}`, where));
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    return E.left(
      stError("InvalidOffsets", `data_offsets must be two non-negative integers [begin, end], got ${describe(offsets)}`, where),
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    return E.left(stError("InvalidOffsets", `data_offsets [${begin}, ${end}] end before they begin`, where));
  }
  if (end > dataLength) {
    return E.left(
      stError(
        "OffsetsOutOfRange",
        `data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data buffer`,
        where,
      ),
    );
  }
  const expected = byteLengthOf(dtype, shape) as number;
  if (expected !== end - begin) {
    const exp = Number.isFinite(expected) ? `${expected} bytes` : "more bytes than can exist";
    return E.left(
      stError(
        "ByteLengthMismatch",
        `shape [${shape.join(", ")}] of ${dtype} needs ${exp}, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
        where,
      ),
    );
  }
  return E.right({ name, dtype, shape: Object.freeze([...(shape as number[])]), begin, end });
};

/** The tensors must tile the data buffer: sorted by offset, each begins where the previous ended. */
const checkTiling = (
  entries: readonly Entry[],
  dataLength: number,
  source: string | undefined,
): E.Either<SafetensorsError, void> => {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < covered && previous !== undefined) {
      return E.left(
        stError(
          "OverlappingTensors",
          `bytes [${e.begin}, ${e.end}] overlap tensor ${JSON.stringify(previous.name)} at [${previous.begin}, ${previous.end}]`,
          { source, tensor: e.name },
        ),
      );
    }
    if (e.begin > covered) {
      return E.left(
        stError(
          "DataHole",
          `data bytes [${covered}, ${e.begin}) belong to no tensor (hole before this tensor's offsets [${e.begin}, ${e.end}])`,
          { source, tensor: e.name },
        ),
      );
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength) {
    return E.left(
      stError(
        "DataHole",
        `data bytes [${covered}, ${dataLength}) after the last tensor belong to no tensor (the data buffer is ${dataLength} bytes)`,
        { source },
      ),
    );
  }
  return E.right(undefined);
};

/**
 * Parse and fully validate a safetensors file held in memory. Tensor bytes
 * are views into `bytes` (no copy), so keep `bytes` alive and unmodified
 * while you use them. `source` (usually the file path) is put in every error
 * message.
 *
 * @example
 *   const r = parseSafetensors(await fs.readFile(p), p);
 *   if (E.isRight(r)) r.right.tensors.get("lin0.weight")?.shape; // [20, 10]
 */
export const parseSafetensors = (bytes: Uint8Array, source?: string): E.Either<SafetensorsError, SafetensorsFile> => {
  const n = checkHeaderLength(bytes, bytes.length, source);
  if (E.isLeft(n)) return n;
  const headerLength = n.right;
  const where = { source };

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return E.left(stError("HeaderNotUtf8", `the ${headerLength}-byte header is not valid UTF-8`, where));
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return E.left(
      stError("HeaderNotJson", `the header is not valid JSON (${(e as Error).message}): ${truncate(JSON.stringify(text))}`, where),
    );
  }
  if (!isPlainObject(header)) {
    return E.left(stError("HeaderNotObject", `the header must be a JSON object, got ${describe(header)}`, where));
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  let metadata: Readonly<Record<string, string>> | undefined;
  const entries: Entry[] = [];
  for (const key of keys) {
    if (seen.has(key)) {
      return E.left(
        stError("DuplicateTensor", "the name appears more than once in the header", { source, tensor: key }),
      );
    }
    seen.add(key);
    if (key === METADATA_KEY) {
      const m = parseMetadata(header[key], where);
      if (E.isLeft(m)) return m;
      metadata = m.right;
      continue;
    }
    const entry = parseEntry(key, header[key], dataLength, source);
    if (E.isLeft(entry)) return entry;
    entries.push(entry.right);
  }
  const tiled = checkTiling(entries, dataLength, source);
  if (E.isLeft(tiled)) return tiled;

  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(
      e.name,
      Object.freeze({ dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(dataStart + e.begin, dataStart + e.end) }),
    );
  }
  return E.right({ tensors, metadata });
};
