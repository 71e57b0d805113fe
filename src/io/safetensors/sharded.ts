/**
 * Sharded checkpoints (Node only): a directory holding
 * `model.safetensors.index.json` —
 * `{"metadata": {"total_size": …}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", …}}` —
 * next to the shard files it names; and {@link loadCheckpoint}, which takes
 * whichever of `model.safetensors` or the index a directory has.
 *
 * The index is untrusted input: shard names must be plain file names in the
 * same directory (no `..`, no separators, not absolute), every shard must
 * exist before anything is loaded, and every tensor must be in the shard the
 * index says. Tensors a shard holds but the index does not list are ignored.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as E from "fp-ts/lib/Either.js";
import { type RawTensor, type SafetensorsError, SafetensorsException, stError } from "./format.js";
import { atomicWrite, loadTensors, rawToTf, readSafetensorsFile, tfToRaw, type WriteOptions, writeTemp } from "./file.js";
import { compareCodePoints, encodeSafetensorsParts } from "./write.js";

/**
 * File name of a single-file checkpoint.
 *
 * @example
 *   path.join(dir, SINGLE_FILE) // "<dir>/model.safetensors"
 */
export const SINGLE_FILE = "model.safetensors";
/**
 * File name of a sharded checkpoint's index.
 *
 * @example
 *   path.join(dir, INDEX_FILE) // "<dir>/model.safetensors.index.json"
 */
export const INDEX_FILE = "model.safetensors.index.json";

/**
 * A parsed shard index. `weightMap` maps tensor name → shard file name.
 *
 * @example
 *   index.weightMap.get("lm_head.weight") // "model-00002-of-00002.safetensors"
 */
export interface ShardIndex {
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly weightMap: ReadonlyMap<string, string>;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * True when `name` is a plain file name that stays inside its directory:
 * not empty, not `.`/`..`, no `/`, `\`, `:` or NUL, not absolute.
 *
 * @example
 *   isSafeShardName("model-00001-of-00002.safetensors") // true
 *   isSafeShardName("../../etc/passwd")                  // false
 */
export const isSafeShardName = (name: string): boolean =>
  name.length > 0 &&
  name !== "." &&
  name !== ".." &&
  !/[/\\:\0]/.test(name) &&
  !nodePath.isAbsolute(name) &&
  !nodePath.win32.isAbsolute(name);

/**
 * Parse and validate the text of an index file.
 *
 * @example
 *   parseShardIndex('{"metadata":{},"weight_map":{"w":"model-00001-of-00001.safetensors"}}', "index.json")
 *   // E.right({ metadata: {}, weightMap: Map { "w" => "model-00001-of-00001.safetensors" } })
 */
export const parseShardIndex = (text: string, source?: string): E.Either<SafetensorsError, ShardIndex> => {
  const where = { source };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(stError("InvalidIndex", `not valid JSON (${(e as Error).message})`, where));
  }
  if (!isPlainObject(json)) return E.left(stError("InvalidIndex", "the index must be a JSON object", where));
  const metadata = json["metadata"] ?? {};
  if (!isPlainObject(metadata)) {
    return E.left(stError("InvalidIndex", '"metadata" must be an object when present', where));
  }
  const wm = json["weight_map"];
  if (!isPlainObject(wm)) {
    return E.left(stError("InvalidIndex", '"weight_map" must be an object mapping tensor names to shard files', where));
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== "string") {
      return E.left(stError("InvalidIndex", "weight_map value must be a shard file name (a string)", { source, tensor: name }));
    }
    if (!isSafeShardName(shard)) {
      return E.left(
        stError(
          "UnsafeShardName",
          `shard ${JSON.stringify(shard)} is not a plain file name in the checkpoint directory (path traversal, separator or absolute path refused)`,
          { source, tensor: name },
        ),
      );
    }
    weightMap.set(name, shard);
  }
  return E.right({ metadata, weightMap });
};

const exists = async (p: string): Promise<boolean> =>
  fs.stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

/**
 * Read and validate `dir/<indexFile>`.
 *
 * @example
 *   const { weightMap } = await readShardIndex("./llama");
 */
export const readShardIndex = async (dir: string, indexFile: string = INDEX_FILE): Promise<ShardIndex> => {
  const path = nodePath.join(dir, indexFile);
  let text: string;
  try {
    text = await fs.readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SafetensorsException(
      stError("ReadFailed", `cannot read index: ${code === "ENOENT" ? "no such file" : (code ?? String(e))}`, { source: path }),
    );
  }
  const r = parseShardIndex(text, path);
  if (E.isLeft(r)) throw new SafetensorsException(r.left);
  return r.right;
};

/**
 * Load a sharded checkpoint as tfjs tensors (the caller owns them), in
 * weight_map order. Shards are read one at a time. Every shard's existence
 * is checked before any is read; on any failure nothing is leaked.
 *
 * @example
 *   const weights = await loadShardedTensors("./llama-7b");
 */
export const loadShardedTensors = async (
  dir: string,
  indexFile: string = INDEX_FILE,
): Promise<Record<string, tf.Tensor>> => {
  const index = await readShardIndex(dir, indexFile);
  const indexPath = nodePath.join(dir, indexFile);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of index.weightMap) {
    const names = byShard.get(shard);
    if (names === undefined) byShard.set(shard, [name]);
    else names.push(name);
  }

  const missing: string[] = [];
  for (const shard of byShard.keys()) if (!(await exists(nodePath.join(dir, shard)))) missing.push(shard);
  if (missing.length > 0) {
    const first = missing[0] as string;
    throw new SafetensorsException(
      stError(
        "MissingShard",
        `shard file(s) ${missing.map((m) => JSON.stringify(m)).join(", ")} listed in the index do not exist in ${dir} (e.g. needed for tensor ${JSON.stringify(byShard.get(first)?.[0])})`,
        { source: indexPath },
      ),
    );
  }

  const loaded = new Map<string, tf.Tensor>();
  try {
    for (const [shard, names] of byShard) {
      const shardPath = nodePath.join(dir, shard);
      const file = await readSafetensorsFile(shardPath);
      const picked: Array<readonly [string, RawTensor]> = [];
      for (const name of names) {
        const raw = file.tensors.get(name);
        if (raw === undefined) {
          throw new SafetensorsException(
            stError("MissingTensor", `the index (${indexPath}) places this tensor in ${JSON.stringify(shard)}, but that shard does not contain it`, {
              source: shardPath,
              tensor: name,
            }),
          );
        }
        picked.push([name, raw]);
      }
      for (const [name, t] of Object.entries(rawToTf(picked, shardPath))) loaded.set(name, t);
    }
  } catch (e) {
    tf.dispose([...loaded.values()]);
    throw e;
  }
  const out: Record<string, tf.Tensor> = {};
  for (const name of index.weightMap.keys()) {
    Object.defineProperty(out, name, { value: loaded.get(name), enumerable: true, writable: true, configurable: true });
  }
  return out;
};

/**
 * Load a checkpoint from a `.safetensors` file, or from a directory holding
 * `model.safetensors` (preferred) or `model.safetensors.index.json`.
 *
 * @example
 *   const weights = await loadCheckpoint("./gpt2"); // Record<string, tf.Tensor>
 */
export const loadCheckpoint = async (dirOrFile: string): Promise<Record<string, tf.Tensor>> => {
  if (await exists(dirOrFile)) return loadTensors(dirOrFile);
  if (await exists(nodePath.join(dirOrFile, SINGLE_FILE))) return loadTensors(nodePath.join(dirOrFile, SINGLE_FILE));
  if (await exists(nodePath.join(dirOrFile, INDEX_FILE))) return loadShardedTensors(dirOrFile);
  throw new SafetensorsException(
    stError("NoCheckpoint", `found neither ${SINGLE_FILE} nor ${INDEX_FILE} (nor is it a file)`, { source: dirOrFile }),
  );
};

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
