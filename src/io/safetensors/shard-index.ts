/**
 * A sharded checkpoint's index (`model.safetensors.index.json`): the file
 * names, and parsing and validating the index — untrusted input whose shard
 * names must be plain file names in the checkpoint directory.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { type SafetensorsError, SafetensorsException, stError } from "./format.js";

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
