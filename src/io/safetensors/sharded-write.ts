/**
 * Writing sharded checkpoints (Node only): planning shards by size, Hugging
 * Face's shard file names, and the atomic write of shards then index.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import type * as tf from "@tensorflow/tfjs-core";
import * as E from "fp-ts/lib/Either.js";
import { type RawTensor, SafetensorsException, stError } from "./format.js";
import { atomicWrite, tfToRaw, type WriteOptions, writeTemp } from "./file.js";
import { compareCodePoints, encodeSafetensorsParts } from "./write.js";
import { INDEX_FILE } from "./shard-index.js";

/**
 * Split tensors (name, byte size) into shards of at most `maxShardBytes`
 * data bytes each, greedily and in the given order; a tensor larger than the
 * limit gets a shard of its own (as Hugging Face does).
 *
 * @example
 *   planShards([["a", 6], ["b", 6], ["c", 3]], 10) // [["a"], ["b", "c"]]
 */
export const planShards = (
  sizes: ReadonlyArray<readonly [string, number]>,
  maxShardBytes: number,
): string[][] => {
  const shards: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const [name, size] of sizes) {
    if (current.length > 0 && used + size > maxShardBytes) {
      shards.push(current);
      current = [];
      used = 0;
    }
    current.push(name);
    used += size;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
};

/**
 * Hugging Face's shard file name.
 *
 * @example
 *   shardFileName(0, 2) // "model-00001-of-00002.safetensors"
 */
export const shardFileName = (i: number, count: number, prefix = "model"): string =>
  `${prefix}-${String(i + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.safetensors`;

/**
 * Options for {@link writeSharded}: per-shard metadata and dtype as
 * {@link WriteOptions}, plus extra index metadata (`total_size` is always set).
 *
 * @example
 *   const opts: ShardedWriteOptions = { metadata: { format: "pt" }, indexMetadata: { source: "peft-ts" } };
 */
export interface ShardedWriteOptions extends WriteOptions {
  readonly indexMetadata?: Readonly<Record<string, unknown>>;
}

const sortedJsonObject = (entries: ReadonlyArray<readonly [string, unknown]>, indent: string): string => {
  if (entries.length === 0) return "{}";
  const lines = [...entries]
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([k, v]) => `${indent}  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n${lines.join(",\n")}\n${indent}}`;
};

/**
 * Write tensors as a sharded checkpoint in `dir` (created if needed):
 * shards `model-0000i-of-0000n.safetensors` of at most `maxShardBytes` data
 * bytes each, then `model.safetensors.index.json` (always written, even for
 * one shard). All shards are written to temporary files first and renamed
 * only when every one succeeded; the index is renamed last, so a reader
 * never finds an index naming shards that are not complete. Tensors are not
 * disposed. Returns the shard file names.
 *
 * @example
 *   await writeSharded("./out", weights, 2 * 1024 ** 3, { metadata: { format: "pt" } });
 */
export const writeSharded = async (
  dir: string,
  tensors: Readonly<Record<string, tf.Tensor>>,
  maxShardBytes: number,
  options: ShardedWriteOptions = {},
): Promise<string[]> => {
  const indexPath = nodePath.join(dir, INDEX_FILE);
  if (!(maxShardBytes > 0)) {
    throw new SafetensorsException(
      stError("WriteFailed", `maxShardBytes must be positive, got ${maxShardBytes}`, { source: indexPath }),
    );
  }
  const raws = new Map(await tfToRaw(tensors, options.dtype));
  const plan = planShards([...raws].map(([n, r]) => [n, r.bytes.length] as const), maxShardBytes);
  const files = plan.map((_, i) => shardFileName(i, plan.length));
  await fs.mkdir(dir, { recursive: true });

  const temps: Array<readonly [string, string]> = [];
  try {
    for (const [i, names] of plan.entries()) {
      const path = nodePath.join(dir, files[i] as string);
      const enc = encodeSafetensorsParts(names.map((n) => [n, raws.get(n) as RawTensor] as const), options.metadata);
      if (E.isLeft(enc)) {
        throw new SafetensorsException({ ...enc.left, message: `${path}: ${enc.left.message}`, source: path });
      }
      temps.push([await writeTemp(path, [enc.right.head, ...enc.right.parts]), path]);
    }
    for (const [tmp, path] of temps) await fs.rename(tmp, path);
  } catch (e) {
    await Promise.all(temps.map(([tmp]) => fs.rm(tmp, { force: true }).catch(() => undefined)));
    if (e instanceof SafetensorsException) throw e;
    throw new SafetensorsException(stError("WriteFailed", `cannot write shards: ${String(e)}`, { source: dir }));
  }

  const totalSize = [...raws.values()].reduce((s, r) => s + r.bytes.length, 0);
  const metadata = sortedJsonObject(Object.entries({ ...options.indexMetadata, total_size: totalSize }), "  ");
  const weightMap = sortedJsonObject(
    plan.flatMap((names, i) => names.map((n) => [n, files[i]] as const)),
    "  ",
  );
  const json = `{\n  "metadata": ${metadata},\n  "weight_map": ${weightMap}\n}\n`;
  await atomicWrite(indexPath, [new TextEncoder().encode(json)]);
  return files;
};
