import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { safetensorsLaws } from "../../laws/safetensors.js";
import { fileOf, GOLDEN } from "./safetensors-helpers.js";
import {
  type RawTensor,
  type SafetensorsError,
  type SafetensorsFile,
  compareCodePoints,
  DTYPE_SIZE,
  encodeSafetensors,
  layoutOrder,
  parseSafetensors,
  SafetensorsException,
  serializeSafetensors,
} from "../../src/io/safetensors/index.js";

const right = (r: E.Either<SafetensorsError, SafetensorsFile>): SafetensorsFile => {
  if (E.isLeft(r)) throw new Error(`expected Right, got ${r.left._tag}: ${r.left.message}`);
  return r.right;
};
const left = <A>(r: E.Either<SafetensorsError, A>): SafetensorsError => {
  if (E.isRight(r)) throw new Error("expected Left, got Right");
  return r.left;
};

const u8 = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const raw = (dtype: RawTensor["dtype"], shape: number[], bytes: Uint8Array): RawTensor => ({ dtype, shape, bytes });

describe("serializeSafetensors: the exact reference layout", () => {
  it("writes u64 length, compact JSON padded with spaces to 8, then data", () => {
    // One F32 [1,2,3] tensor named "attn.0" with values 0..5. The header JSON is 64 bytes
    // (already a multiple of 8, so no padding) — the same bytes the Rust crate's own test expects.
    const data = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
    const bytes = serializeSafetensors({ "attn.0": raw("F32", [1, 2, 3], data) });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect([...bytes.subarray(0, 8)]).toEqual([64, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(bytes.subarray(8, 72))).toBe(header);
    expect([...bytes.subarray(72)]).toEqual([...data]);
  });

  it("pads a 41-byte header to 48 with spaces; empty input is `{}` + 6 spaces", () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const bytes = serializeSafetensors([], { framework: "pt" });
    // {"__metadata__":{"framework":"pt"}} is 35 bytes → padded to 40.
    expect(bytes.length).toBe(48);
    expect(new TextDecoder().decode(bytes.subarray(8))).toBe('{"__metadata__":{"framework":"pt"}}     ');
  });

  it("lays out by descending dtype rank, then by code point; every tensor starts aligned", () => {
    const t = (dtype: RawTensor["dtype"], n: number) => raw(dtype, [n], new Uint8Array(n * { U8: 1, F16: 2, F32: 4, I64: 8 }[dtype as "U8"]));
    const entries: Array<[string, RawTensor]> = [
      ["b", t("U8", 3)],
      ["a", t("F32", 1)],
      ["z", t("I64", 1)],
      ["\u{1F600}", t("F16", 1)],
      ["\uFFFD", t("F16", 1)],
    ];
    const f = right(parseSafetensors(serializeSafetensors(entries)));
    // Header order = layout order: I64, F32, F16 (U+FFFD before U+1F600), U8.
    expect([...f.tensors.keys()]).toEqual(["z", "a", "\uFFFD", "\u{1F600}", "b"]);
    for (const r of f.tensors.values()) expect(r.bytes.byteOffset % DTYPE_SIZE[r.dtype]).toBe(0);
    expect(layoutOrder(entries).map(([n]) => n)).toEqual(["z", "a", "\uFFFD", "\u{1F600}", "b"]);
    expect("\u{1F600}" < "\uFFFD").toBe(true); // UTF-16 order disagrees …
    expect(compareCodePoints("\u{1F600}", "\uFFFD")).toBeGreaterThan(0); // … code-point (UTF-8) order does not
  });

  it("keeps integer-like names where the header puts them (JSON.parse would move them first)", () => {
    const f = right(
      parseSafetensors(
        fileOf('{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"1":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2),
      ),
    );
    expect([...f.tensors.keys()]).toEqual(["b", "1"]);
  });

  it("returns views into the input, not copies", () => {
    const bytes = serializeSafetensors({ w: raw("U8", [2], u8(7, 9)) });
    const t = right(parseSafetensors(bytes)).tensors.get("w") as RawTensor;
    expect(t.bytes.buffer).toBe(bytes.buffer);
    expect([...t.bytes]).toEqual([7, 9]);
  });

  it("refuses to write what could not be read back", () => {
    const bad = (x: Parameters<typeof encodeSafetensors>[0], m?: Record<string, string>) => left(encodeSafetensors(x, m))._tag;
    expect(bad({ __metadata__: raw("U8", [1], u8(1)) })).toBe("ReservedName");
    expect(bad([["w", raw("U8", [1], u8(1))], ["w", raw("U8", [1], u8(2))]])).toBe("DuplicateTensor");
    expect(bad({ w: raw("F32", [2], u8(1, 2, 3)) })).toBe("ByteLengthMismatch");
    expect(bad({ w: raw("U8", [-1], u8()) })).toBe("InvalidShape");
    expect(bad({ w: raw("Q7" as "U8", [0], u8()) })).toBe("UnknownDtype");
    expect(bad({ "\uD800": raw("U8", [0], u8()) })).toBe("InvalidName");
    expect(bad({}, { a: 1 as unknown as string })).toBe("InvalidMetadata");
    expect(() => serializeSafetensors({ w: raw("F32", [2], u8(1)) })).toThrow(SafetensorsException);
    expect(() => serializeSafetensors({ w: raw("F32", [2], u8(1)) })).toThrow(/tensor "w".*F32 needs 8 bytes, got 1/);
  });
});

describe("parseSafetensors on files written by Python safetensors", () => {
  it("reads the lora_mlp adapter: keys, shapes, metadata, values", () => {
    const path = join(GOLDEN, "lora_mlp/adapter/adapter_model.safetensors");
    const f = right(parseSafetensors(readFileSync(path), path));
    expect(f.metadata).toEqual({ format: "pt" });
    expect([...f.tensors].map(([k, t]) => [k, t.dtype, t.shape])).toEqual([
      ["base_model.model.lin0.lora_A.weight", "F32", [4, 10]],
      ["base_model.model.lin0.lora_B.weight", "F32", [20, 4]],
      ["base_model.model.lin1.lora_A.weight", "F32", [4, 20]],
      ["base_model.model.lin1.lora_B.weight", "F32", [2, 4]],
    ]);
    const a = f.tensors.get("base_model.model.lin0.lora_A.weight") as RawTensor;
    const view = new DataView(a.bytes.buffer, a.bytes.byteOffset, a.bytes.length);
    // numpy: [0.019485116004943848, 0.291442334651947, -0.18657627701759338, …]
    expect([0, 4, 8].map((o) => view.getFloat32(o, true))).toEqual([
      0.019485116004943848, 0.291442334651947, -0.18657627701759338,
    ]);
  });

  it("reads the I64 `ids` of lora_emb", () => {
    const f = right(parseSafetensors(readFileSync(join(GOLDEN, "lora_emb/inputs.safetensors"))));
    expect(f.metadata).toBeUndefined();
    const ids = f.tensors.get("ids") as RawTensor;
    expect([ids.dtype, ids.shape]).toEqual(["I64", [2, 6]]);
    const v = new DataView(ids.bytes.buffer, ids.bytes.byteOffset, ids.bytes.length);
    const values = Array.from({ length: 12 }, (_, i) => Number(v.getBigInt64(8 * i, true)));
    expect(values).toEqual([45, 39, 24, 18, 13, 13, 41, 41, 9, 32, 48, 49]);
  });

  it("re-serializes every golden file to the identical bytes", () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith(".safetensors")) files.push(p);
      }
    };
    walk(GOLDEN);
    expect(files.length).toBeGreaterThan(100);
    const dtypes = new Set<string>();
    for (const p of files) {
      const original = readFileSync(p);
      const f = right(parseSafetensors(original, p));
      for (const t of f.tensors.values()) dtypes.add(t.dtype);
      const again = serializeSafetensors(f.tensors, f.metadata);
      expect(Buffer.from(again).equals(original), p).toBe(true);
    }
    expect([...dtypes].sort()).toEqual(["F32", "I64"]); // mixed files included (I64 laid out before F32)
  });
});

describe("parseSafetensors on hostile bytes: one error per problem", () => {
  const entry = (dtype: string, shape: unknown, offsets: unknown) =>
    JSON.stringify({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, SafetensorsError["_tag"], RegExp]> = [
    ["5-byte file", u8(1, 2, 3, 4, 5), "FileTooShort", /file is 5 bytes, shorter than the 8-byte/],
    ["header length 2^50", fileOf("{}", 0, 2n ** 50n), "HeaderTooLarge", /header length 1125899906842624 is larger than/],
    ["header length 2^64-1", fileOf("{}", 0, 2n ** 64n - 1n), "HeaderTooLarge", /larger than the 100000000-byte limit/],
    ["header length past EOF", fileOf("{}", 0, 1000n), "HeaderPastEnd", /header length 1000 runs past the end of the file \(10 bytes/],
    ["text after the object", fileOf("{}  x", 0), "HeaderNotJson", /not valid JSON/],
    ["bad JSON", fileOf('{"w": {', 0), "HeaderNotJson", /the header is not valid JSON/],
    ["array header", fileOf("[1, 2]", 0), "HeaderNotObject", /must be a JSON object, got an array/],
    ["unknown dtype", fileOf(`{"w":${entry("Q7", [1], [0, 1])}}`, 1), "UnknownDtype", /tensor "w": unknown dtype "Q7" \(expected one of/],
    ["negative dim", fileOf(`{"w":${entry("U8", [-1], [0, 0])}}`), "InvalidShape", /tensor "w": shape must be a list of non-negative integers/],
    ["fractional dim", fileOf(`{"w":${entry("U8", [1.5], [0, 0])}}`), "InvalidShape", /non-negative integers/],
    ["string shape", fileOf(`{"w":${entry("U8", "3", [0, 3])}}`, 3), "InvalidShape", /got the string "3"/],
    ["one offset", fileOf(`{"w":${entry("U8", [0], [0])}}`), "InvalidOffsets", /two non-negative integers/],
    ["end before begin", fileOf(`{"w":${entry("U8", [0], [4, 2])}}`, 4), "InvalidOffsets", /\[4, 2\] end before they begin/],
    ["offsets out of range", fileOf(`{"w":${entry("U8", [8], [0, 8])}}`, 4), "OffsetsOutOfRange", /tensor "w": data_offsets \[0, 8\] run past the end of the 4-byte data buffer/],
    [
      "overlap",
      fileOf(`{"a":${entry("U8", [4], [0, 4])},"b":${entry("U8", [4], [2, 6])}}`, 6),
      "OverlappingTensors",
      /tensor "b": bytes \[2, 6\] overlap tensor "a" at \[0, 4\]/,
    ],
    [
      "hole",
      fileOf(`{"a":${entry("U8", [2], [0, 2])},"b":${entry("U8", [2], [4, 6])}}`, 6),
      "DataHole",
      /tensor "b": data bytes \[2, 4\) belong to no tensor/,
    ],
    ["trailing bytes", fileOf(`{"a":${entry("U8", [2], [0, 2])}}`, 5), "DataHole", /data bytes \[2, 5\) after the last tensor/],
    ["wrong byte count", fileOf(`{"w":${entry("F32", [2, 3], [0, 20])}}`, 20), "ByteLengthMismatch", /shape \[2, 3\] of F32 needs 24 bytes, but data_offsets \[0, 20\] hold 20/],
    ["overflowing shape", fileOf(`{"w":${entry("F64", [2 ** 52, 2 ** 52], [0, 8])}}`, 8), "ByteLengthMismatch", /needs more bytes than can exist/],
    ["bad metadata", fileOf('{"__metadata__":{"a":1}}'), "InvalidMetadata", /key "a" has number 1/],
    ["metadata array", fileOf('{"__metadata__":["x"]}'), "InvalidMetadata", /must be an object of string values/],
    ["entry not an object", fileOf('{"w":3}'), "InvalidTensorEntry", /tensor "w": expected \{"dtype", "shape", "data_offsets"\}/],
    ["missing field", fileOf('{"w":{"dtype":"U8","shape":[0]}}'), "InvalidTensorEntry", /missing field\(s\) data_offsets/],
    [
      "duplicate name",
      fileOf(`{"w":${entry("U8", [1], [0, 1])},"w":${entry("U8", [1], [1, 2])}}`, 2),
      "DuplicateTensor",
      /tensor "w": the name appears more than once/,
    ],
  ];
  it.each(cases)("%s → its own tag, naming the source", (_name, bytes, tag, pattern) => {
    const e = left(parseSafetensors(bytes, "/models/x.safetensors"));
    expect(e._tag).toBe(tag);
    expect(e.message).toMatch(pattern);
    expect(e.message.startsWith("/models/x.safetensors: ")).toBe(true);
    expect(e.source).toBe("/models/x.safetensors");
  });

  it("invalid UTF-8 in the header is its own error", () => {
    const bytes = fileOf("{}      ");
    bytes[9] = 0xff;
    expect(left(parseSafetensors(bytes))._tag).toBe("HeaderNotUtf8");
  });

  it("accepts zero-sized and scalar tensors, and null metadata like the reference", () => {
    const f = right(
      parseSafetensors(
        fileOf('{"__metadata__":null,"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', 4),
      ),
    );
    expect(f.metadata).toBeUndefined();
    expect(f.tensors.get("e")?.bytes.length).toBe(0);
    expect(f.tensors.get("s")?.shape).toEqual([]);
  });
});

describe("laws", () => {
  it("parse ∘ serialize = id, byte for byte", () => fc.assert(safetensorsLaws.readWrite(), { numRuns: 300 }));
  it("the writer's output is canonical", () => fc.assert(safetensorsLaws.canonical(), { numRuns: 200 }));
  it("parse is total on hostile bytes", () => fc.assert(safetensorsLaws.total(), { numRuns: 1000 }));
});
