import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  INDEX_FILE,
  loadCheckpoint,
  loadShardedTensors,
  loadTensors,
  parseShardIndex,
  planShards,
  readSafetensorsFile,
  SafetensorsException,
  serializeSafetensors,
  writeRawFile,
  writeSafetensorsFile,
  writeSharded,
} from "../../src/io/safetensors.js";
import { fileOf } from "./safetensors-helpers.js";

const root = mkdtempSync(join(tmpdir(), "peft-ts-safetensors-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};

let baseline = 0;
beforeEach(() => {
  baseline = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(baseline);
});

/** The SafetensorsException a promise rejects with. */
const rejection = async (p: Promise<unknown>): Promise<SafetensorsException> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof SafetensorsException) return e;
    throw e;
  }
  throw new Error("expected a rejection");
};

const u8 = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const tempFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.includes(".tmp-"));

describe("readSafetensorsFile on hostile files: the error names the path and the problem", () => {
  const entry = (dtype: string, shape: number[], offsets: number[]) => JSON.stringify({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, string, RegExp]> = [
    ["truncated.safetensors", u8(64, 0, 0), "FileTooShort", /file is 3 bytes, shorter than the 8-byte header-length prefix/],
    ["huge-header.safetensors", fileOf("{}", 0, 2n ** 50n), "HeaderTooLarge", /header length 1125899906842624 is larger than/],
    ["past-eof.safetensors", fileOf("{}", 0, 4096n), "HeaderPastEnd", /header length 4096 runs past the end of the file/],
    ["bad-json.safetensors", fileOf('{"w":{"dtype":', 0), "HeaderNotJson", /the header is not valid JSON/],
    ["q7.safetensors", fileOf(`{"w":${entry("Q7", [1], [0, 1])}}`, 1), "UnknownDtype", /tensor "w": unknown dtype "Q7"/],
    ["range.safetensors", fileOf(`{"w":${entry("U8", [9], [0, 9])}}`, 4), "OffsetsOutOfRange", /tensor "w": data_offsets \[0, 9\] run past the end/],
    [
      "overlap.safetensors",
      fileOf(`{"a":${entry("U8", [4], [0, 4])},"b":${entry("U8", [4], [3, 7])}}`, 7),
      "OverlappingTensors",
      /tensor "b": bytes \[3, 7\] overlap tensor "a"/,
    ],
    [
      "hole.safetensors",
      fileOf(`{"a":${entry("U8", [2], [0, 2])},"b":${entry("U8", [2], [3, 5])}}`, 5),
      "DataHole",
      /data bytes \[2, 3\) belong to no tensor/,
    ],
    ["count.safetensors", fileOf(`{"w":${entry("F32", [3], [0, 8])}}`, 8), "ByteLengthMismatch", /shape \[3\] of F32 needs 12 bytes/],
  ];
  it.each(cases)("%s", async (name, bytes, tag, pattern) => {
    const path = join(freshDir(), name);
    writeFileSync(path, bytes);
    const e = await rejection(readSafetensorsFile(path));
    expect(e.detail._tag).toBe(tag);
    expect(e.message).toMatch(pattern);
    expect(e.message).toContain(path);
    expect(e.detail.source).toBe(path);
  });

  it("a hostile header length in an 8 GiB (sparse) file is refused after reading 8 bytes", async () => {
    const path = join(freshDir(), "sparse.safetensors");
    writeFileSync(path, fileOf("{}", 0, 2n ** 50n));
    truncateSync(path, 2 ** 33); // a hole: no disk used, but reading it all would need 8 GiB
    const e = await rejection(readSafetensorsFile(path));
    expect(e.detail._tag).toBe("HeaderTooLarge");
  });

  it("a missing file is ReadFailed, naming the path", async () => {
    const path = join(root, "nope.safetensors");
    const e = await rejection(readSafetensorsFile(path));
    expect([e.detail._tag, e.message]).toEqual(["ReadFailed", `${path}: cannot open: no such file`]);
  });

  it("an out-of-range I64 names file and tensor when loading, and leaks nothing", async () => {
    const path = join(freshDir(), "ids.safetensors");
    const big = new Uint8Array(new BigInt64Array([1n, 2n ** 40n]).buffer);
    await writeRawFile(path, [["a", { dtype: "F32", shape: [1], bytes: new Uint8Array(4) }], ["ids", { dtype: "I64", shape: [2], bytes: big }]]);
    const e = await rejection(loadTensors(path));
    expect(e.message).toBe(`${path}: tensor "ids": I64 value 1099511627776 at flat index 1 does not fit in int32 (tfjs has no 64-bit or unsigned 32-bit integers)`);
  });
});

describe("writeSafetensorsFile: atomic", () => {
  it("writes a file Python can read (same bytes as the reference layout) and leaves no temp file", async () => {
    const dir = freshDir();
    const path = join(dir, "adapter_model.safetensors");
    const w = { "lin.lora_B.weight": tf.tensor([[1, -2.5]]), "lin.lora_A.weight": tf.tensor([[0.5], [2]]) };
    await writeSafetensorsFile(path, w, { metadata: { format: "pt" }, dtype: "F16" });
    tf.dispose(Object.values(w));
    expect(readdirSync(dir)).toEqual(["adapter_model.safetensors"]);
    const expected = serializeSafetensors(
      {
        "lin.lora_A.weight": { dtype: "F16", shape: [2, 1], bytes: u8(0x00, 0x38, 0x00, 0x40) }, // 0.5, 2
        "lin.lora_B.weight": { dtype: "F16", shape: [1, 2], bytes: u8(0x00, 0x3c, 0x00, 0xc1) }, // 1, -2.5
      },
      { format: "pt" },
    );
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(expected))).toBe(true);
    const back = await loadTensors(path);
    expect(Array.from(await (back["lin.lora_B.weight"] as tf.Tensor).data())).toEqual([1, -2.5]);
    tf.dispose(Object.values(back));
  });

  it("a tensor that cannot be stored leaves the old file untouched and no temp file", async () => {
    const dir = freshDir();
    const path = join(dir, "model.safetensors");
    writeFileSync(path, "old contents");
    const t = tf.tensor([1, 300], [2], "int32");
    const e = await rejection(writeSafetensorsFile(path, { ids: t }, { dtype: () => "I8" }));
    t.dispose();
    expect(e.detail._tag).toBe("ValueOutOfRange");
    expect(e.message).toContain(path);
    expect(readFileSync(path, "utf8")).toBe("old contents");
    expect(tempFiles(dir)).toEqual([]);
  });

  it("a failing rename (target is a directory) keeps the target and removes the temp file", async () => {
    const dir = freshDir();
    const path = join(dir, "model.safetensors");
    mkdirSync(path);
    writeFileSync(join(path, "keep"), "x");
    const t = tf.tensor([1]);
    const e = await rejection(writeSafetensorsFile(path, { w: t }));
    t.dispose();
    expect(e.detail._tag).toBe("WriteFailed");
    expect(e.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: cannot replace`));
    expect(readFileSync(join(path, "keep"), "utf8")).toBe("x");
    expect(tempFiles(dir)).toEqual([]);
  });

  it("a missing directory is WriteFailed, naming the path", async () => {
    const path = join(root, "no-such-dir", "model.safetensors");
    const e = await rejection(writeRawFile(path, []));
    expect([e.detail._tag, e.message]).toEqual(["WriteFailed", `${path}: cannot write: no such file`]);
  });
});

describe("sharded checkpoints", () => {
  const sample = () => ({
    "a.weight": tf.tensor([1, 2, 3, 4]), // 16 bytes
    "b.weight": tf.tensor([5, 6]), // 8 bytes
    "c.ids": tf.tensor([7, 8], [2], "int32"), // 8 bytes
  });

  it("plans shards greedily; an oversized tensor gets its own", () => {
    expect(planShards([["a", 16], ["b", 8], ["c", 8]], 16)).toEqual([["a"], ["b", "c"]]);
    expect(planShards([["a", 4], ["b", 40], ["c", 4]], 16)).toEqual([["a"], ["b"], ["c"]]);
    expect(planShards([], 16)).toEqual([[]]);
  });

  it("writes shards + index and loads them back (also via loadCheckpoint), leaving no temp files", async () => {
    const dir = freshDir();
    const w = sample();
    const files = await writeSharded(dir, w, 16, { metadata: { format: "pt" } });
    tf.dispose(Object.values(w));
    expect(files).toEqual(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    expect(readdirSync(dir).sort()).toEqual([...files, INDEX_FILE]);
    const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), "utf8"));
    expect(index).toEqual({
      metadata: { total_size: 32 },
      weight_map: { "a.weight": files[0], "b.weight": files[1], "c.ids": files[1] },
    });
    expect((await readSafetensorsFile(join(dir, files[1] as string))).metadata).toEqual({ format: "pt" });

    for (const loaded of [await loadShardedTensors(dir), await loadCheckpoint(dir)]) {
      expect(Object.keys(loaded)).toEqual(["a.weight", "b.weight", "c.ids"]);
      expect(Array.from(await (loaded["a.weight"] as tf.Tensor).data())).toEqual([1, 2, 3, 4]);
      expect((loaded["c.ids"] as tf.Tensor).dtype).toBe("int32");
      tf.dispose(Object.values(loaded));
    }
  });

  it("loadCheckpoint prefers model.safetensors, accepts a file path, and says what it looked for", async () => {
    const dir = freshDir();
    await writeRawFile(join(dir, "model.safetensors"), [["only", { dtype: "U8", shape: [1], bytes: u8(3) }]]);
    writeFileSync(join(dir, INDEX_FILE), '{"weight_map":{"x":"missing.safetensors"}}');
    for (const p of [dir, join(dir, "model.safetensors")]) {
      const w = await loadCheckpoint(p);
      expect(Object.keys(w)).toEqual(["only"]);
      tf.dispose(Object.values(w));
    }
    const empty = freshDir();
    const e = await rejection(loadCheckpoint(empty));
    expect([e.detail._tag, e.message]).toEqual([
      "NoCheckpoint",
      `${empty}: found neither model.safetensors nor ${INDEX_FILE} (nor is it a file)`,
    ]);
  });

  it.each([
    ["../evil.safetensors"],
    ["/etc/passwd"],
    ["sub/model.safetensors"],
    ["..\\evil.safetensors"],
    ["C:evil.safetensors"],
    [".."],
  ])("rejects the shard name %j before touching the file system", async (shard) => {
    const dir = freshDir();
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: {}, weight_map: { "w": shard } }));
    const e = await rejection(loadShardedTensors(dir));
    expect(e.detail._tag).toBe("UnsafeShardName");
    expect(e.message).toContain(join(dir, INDEX_FILE));
    expect(e.message).toContain(`tensor "w": shard ${JSON.stringify(shard)} is not a plain file name`);
  });

  it("a missing shard is reported (all of them) before anything is loaded", async () => {
    const dir = freshDir();
    const w = sample();
    const files = await writeSharded(dir, w, 16);
    tf.dispose(Object.values(w));
    rmSync(join(dir, files[1] as string));
    const e = await rejection(loadShardedTensors(dir));
    expect(e.detail._tag).toBe("MissingShard");
    expect(e.message).toContain(`shard file(s) "${files[1]}" listed in the index do not exist`);
  });

  it("a tensor missing from its shard is reported, and tensors already loaded are freed", async () => {
    const dir = freshDir();
    await writeRawFile(join(dir, "s1.safetensors"), [["a", { dtype: "U8", shape: [1], bytes: u8(1) }]]);
    await writeRawFile(join(dir, "s2.safetensors"), [["b", { dtype: "U8", shape: [1], bytes: u8(2) }]]);
    writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ weight_map: { a: "s1.safetensors", c: "s2.safetensors" } }));
    const e = await rejection(loadShardedTensors(dir));
    expect(e.detail._tag).toBe("MissingTensor");
    expect(e.message).toContain(`${join(dir, "s2.safetensors")}: tensor "c": the index`);
    // afterEach checks that "a", loaded from s1 first, was disposed.
  });

  it("validates the index itself", () => {
    const tag = (text: string) => {
      const r = parseShardIndex(text, "i.json");
      return r._tag === "Left" ? r.left._tag : "ok";
    };
    expect(tag("not json")).toBe("InvalidIndex");
    expect(tag("[]")).toBe("InvalidIndex");
    expect(tag('{"metadata":{}}')).toBe("InvalidIndex");
    expect(tag('{"weight_map":{"w":3}}')).toBe("InvalidIndex");
    expect(tag('{"metadata":[],"weight_map":{}}')).toBe("InvalidIndex");
    expect(tag('{"weight_map":{"w":"model-00001-of-00001.safetensors"}}')).toBe("ok");
  });
});
