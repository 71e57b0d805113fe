/**
 * The first two steps of reading a file: the 8-byte header length (checked
 * before anything is sliced or allocated) and the order of the header's
 * top-level keys.
 */
import * as E from "fp-ts/lib/Either.js";
import { type SafetensorsError, stError } from "./format.js";

/**
 * The reference implementation refuses headers above 100 MB; so do we.
 *
 * @example
 *   checkHeaderLength(prefix, size)._tag === "Left" // when prefix says more than MAX_HEADER_BYTES
 */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Read the 8-byte little-endian header length. Returns a plain number; values
 * above 2^53 lose precision, which does not matter because anything above
 * {@link MAX_HEADER_BYTES} is rejected.
 */
const readU64 = (bytes: Uint8Array): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
};

/**
 * Validate the 8-byte prefix of a file of `fileLength` bytes and return the
 * header length N. Exposed so file readers can reject a file before reading
 * all of it.
 *
 * @example
 *   checkHeaderLength(new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0]), 16) // E.right(8)
 */
export const checkHeaderLength = (
  prefix: Uint8Array,
  fileLength: number,
  source?: string,
): E.Either<SafetensorsError, number> => {
  const where = { source };
  if (prefix.length < 8 || fileLength < 8) {
    return E.left(
      stError(
        "FileTooShort",
        `file is ${fileLength} bytes, shorter than the 8-byte header-length prefix (truncated or not a safetensors file)`,
        where,
      ),
    );
  }
  const n = readU64(prefix);
  if (n > MAX_HEADER_BYTES) {
    return E.left(
      stError(
        "HeaderTooLarge",
        `header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit (corrupt file or not a safetensors file)`,
        where,
      ),
    );
  }
  if (n > fileLength - 8) {
    return E.left(
      stError(
        "HeaderPastEnd",
        `header length ${n} runs past the end of the file (${fileLength} bytes, so at most ${fileLength - 8} bytes of header); the file is truncated or corrupt`,
        where,
      ),
    );
  }
  return E.right(n);
};

/**
 * The top-level keys of a JSON object text, in the order they appear
 * (duplicates kept). `JSON.parse` cannot tell us this: it reorders
 * integer-like keys ("0", "12") to the front and collapses duplicates.
 * The text must already be known to be valid JSON whose value is an object.
 *
 * @example
 *   topLevelKeys('{"b": 1, "0": {"x": [2]}}') // ["b", "0"] (JSON.parse would give ["0", "b"])
 */
export const topLevelKeys = (text: string): string[] => {
  const keys: string[] = [];
  let i = 0;
  const ws = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  };
  // Returns the index just past the closing quote of the string starting at i.
  const endOfString = (start: number): number => {
    let j = start + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    return j + 1;
  };
  ws();
  i++; // "{"
  for (;;) {
    ws();
    if (text[i] === "}" || i >= text.length) return keys;
    const end = endOfString(i);
    keys.push(JSON.parse(text.slice(i, end)) as string);
    i = end;
    ws();
    i++; // ":"
    // Skip one value: track nesting, step over strings whole.
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = endOfString(i) - 1;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (depth === 0) return keys;
        depth--;
      } else if (c === "," && depth === 0) {
        i++;
        break;
      }
    }
  }
};
