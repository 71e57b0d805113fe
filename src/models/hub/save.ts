/**
 * Saving a model tree as a Hugging Face folder: `config.json` and
 * `model.safetensors` (or shards + index past a size), each written
 * atomically. Tied weights are stored once, under the embedding's key, as
 * transformers does. Only plain trees are saved: a tree with adapter layers
 * must be merged and unloaded first (or saved as an adapter).
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { Node } from "../../tree/node.js";
import { toStateDict } from "../../tree/params.js";
import { PeftError } from "../../io/errors.js";
import { atomicWrite, INDEX_FILE, SINGLE_FILE, writeSafetensorsFile, writeSharded } from "../../io/safetensors.js";
import { architectureOf } from "../architectures.js";
import { rootMeta } from "../common/head.js";
import { recordShapes } from "../common/source.js";

/** Options of {@link saveModel}. */
export interface ModelSaveOptions {
  /** Write shards of at most this many bytes when the weights are larger (default 5 GiB). */
  readonly maxShardBytes?: number;
}

/**
 * Check that a tree has exactly the params its config and task call for
 * (no adapter layers, no missing weights); `Left` lists the differences.
 *
 * @example
 *   plainModelCheck(mergeAndUnload(adapted)) // Right(undefined)
 *   plainModelCheck(adapted)                 // Left("… has params a plain gpt2 does not: transformer.h.0.attn.c_attn.lora_A…")
 */
export const plainModelCheck = (model: Node): E.Either<string, void> => {
  const meta = rootMeta(model);
  const found = architectureOf(meta.config);
  if (E.isLeft(found)) return E.left(found.left.message);
  const rec = recordShapes();
  const built = found.right.arch.build(meta.config, { task: meta.task, source: rec.source });
  rec.done();
  if (E.isLeft(built)) return E.left(built.left.message);
  const sd = toStateDict(model);
  const extra = Object.keys(sd).filter((k) => !rec.shapes.has(k));
  const missing = [...rec.shapes.keys()].filter((k) => !(k in sd));
  const shapes = [...rec.shapes].filter(([k, s]) => {
    const t = sd[k];
    return t !== undefined && (t.shape.length !== s.length || t.shape.some((d, i) => d !== s[i]));
  });
  if (extra.length === 0 && missing.length === 0 && shapes.length === 0) return E.right(undefined);
  const parts = [
    extra.length > 0
      ? `has params a plain ${meta.modelType} does not: ${extra.slice(0, 8).join(", ")}${extra.length > 8 ? ` (+${extra.length - 8} more)` : ""} — merge and unload adapters first, or save them with saveAdapter`
      : "",
    missing.length > 0 ? `lacks params: ${missing.slice(0, 8).join(", ")}` : "",
    shapes.map(([k, s]) => `${k}: expected [${s.join(", ")}], got [${sd[k]?.shape.join(", ")}]`).join("; "),
  ];
  return E.left(parts.filter((p) => p !== "").join("; "));
};

const removeIfPresent = async (path: string): Promise<void> => {
  await fs.rm(path, { force: true });
};

/**
 * Write `model` to `dir` as a Hugging Face folder (`config.json` with
 * `architectures` set from the task, `model.safetensors` in float32).
 * `loadModel(dir)` gives back a tree with the same keys and tensors' values.
 * Throws a `PeftError` for a tree that is not a plain model.
 *
 * @example
 *   await saveModel(mergeAndUnload(trained), "./merged")
 *   const again = await loadModel("./merged")
 */
export const saveModel = async (model: Node, dir: string, o: ModelSaveOptions = {}): Promise<void> => {
  const ok = plainModelCheck(model);
  if (E.isLeft(ok)) throw new PeftError(`saveModel(${dir}): the tree ${ok.left}`, { path: dir });
  const meta = rootMeta(model);
  const found = architectureOf(meta.config);
  if (E.isLeft(found)) throw new PeftError(`saveModel(${dir}): ${found.left.message}`, { path: dir });
  const { arch, modelType } = found.right;
  const sd = toStateDict(model);
  const config = {
    ...meta.config,
    architectures: [arch.className(modelType, meta.task)],
    model_type: modelType,
    torch_dtype: "float32",
    ...(meta.tied !== undefined ? { tie_word_embeddings: true } : {}),
  };
  await fs.mkdir(dir, { recursive: true });
  const bytes = Object.values(sd).reduce((s, t) => s + t.size * 4, 0);
  const maxShard = o.maxShardBytes ?? 5 * 1024 ** 3;
  try {
    if (bytes > maxShard) {
      await writeSharded(dir, sd, maxShard, { metadata: { format: "pt" } });
      await removeIfPresent(nodePath.join(dir, SINGLE_FILE));
    } else {
      await writeSafetensorsFile(nodePath.join(dir, SINGLE_FILE), sd, { metadata: { format: "pt" } });
      await removeIfPresent(nodePath.join(dir, INDEX_FILE));
    }
    await atomicWrite(nodePath.join(dir, "config.json"), [new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)]);
  } catch (e) {
    throw new PeftError(`saveModel(${dir}): ${(e as Error).message}`, { path: dir, cause: e });
  }
};
