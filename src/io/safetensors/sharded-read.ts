/**
 * Loading checkpoints (Node only): a sharded one through its index, shard by
 * shard, or whichever of `model.safetensors` or the index a directory has.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { type RawTensor, SafetensorsException, stError } from "./format.js";
import { loadTensors, rawToTf, readSafetensorsFile } from "./file.js";
import { INDEX_FILE, readShardIndex, SINGLE_FILE } from "./shard-index.js";

const exists = async (p: string): Promise<boolean> =>
  fs.stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

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
