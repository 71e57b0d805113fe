/**
 * Reading and writing safetensors files on disk (Node only; the rest of
 * `io/safetensors` is browser-safe).
 *
 * These are the async edges: they throw one error type,
 * {@link SafetensorsException}, whose message names the path and the problem
 * and whose `detail` is the tagged {@link SafetensorsError}.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import * as E from "fp-ts/lib/Either.js";
import { type Dtype, type RawTensor, type SafetensorsFile, SafetensorsException, stError } from "./format.js";
import { checkHeaderLength } from "./header.js";
import { parseSafetensors } from "./read.js";
import { fromTfTensor, toTfTensor } from "./tfjs.js";
import { encodeSafetensorsParts } from "./write.js";

const errnoText = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  return err.code === "ENOENT" ? "no such file" : (err.code ?? err.message ?? String(e));
};

const CHUNK = 1 << 30;

/**
 * Read a whole file into memory, checking the 8-byte prefix before reading
 * the rest so a non-safetensors file (or a hostile header length) is refused
 * after 8 bytes. Reads in chunks, so files above Node's 2 GiB `readFile`
 * limit work.
 */
const readBytes = async (path: string): Promise<Uint8Array> => {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, "r");
  } catch (e) {
    throw new SafetensorsException(stError("ReadFailed", `cannot open: ${errnoText(e)}`, { source: path }));
  }
  try {
    const { size } = await fh.stat();
    const prefix = new Uint8Array(Math.min(8, size));
    await fh.read(prefix, 0, prefix.length, 0);
    const n = checkHeaderLength(prefix, size, path);
    if (E.isLeft(n)) throw new SafetensorsException(n.left);
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(bytes, at, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) {
        throw new SafetensorsException(
          stError("ReadFailed", `file shrank while reading (got ${at} of ${size} bytes)`, { source: path }),
        );
      }
      at += bytesRead;
    }
    return bytes;
  } catch (e) {
    if (e instanceof SafetensorsException) throw e;
    throw new SafetensorsException(stError("ReadFailed", `cannot read: ${errnoText(e)}`, { source: path }));
  } finally {
    await fh.close();
  }
};

/**
 * Read and validate a safetensors file. Tensors are views into one buffer
 * holding the whole file.
 *
 * @example
 *   const { tensors, metadata } = await readSafetensorsFile("adapter_model.safetensors");
 *   tensors.get("base_model.model.lin0.lora_A.weight")?.shape; // [4, 10]
 */
export const readSafetensorsFile = async (path: string): Promise<SafetensorsFile> => {
  const parsed = parseSafetensors(await readBytes(path), path);
  if (E.isLeft(parsed)) throw new SafetensorsException(parsed.left);
  return parsed.right;
};

/**
 * Convert every raw tensor to tfjs; if one fails, dispose the ones already
 * made and throw (naming `source`).
 *
 * @example
 *   const weights = rawToTf(file.tensors, "model.safetensors"); // Record<string, tf.Tensor>
 */
export const rawToTf = (
  entries: Iterable<readonly [string, RawTensor]>,
  source: string,
): Record<string, tf.Tensor> => {
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, raw] of entries) {
      Object.defineProperty(out, name, { value: toTfTensor(raw, name), enumerable: true, writable: true, configurable: true });
    }
  } catch (e) {
    tf.dispose(Object.values(out));
    if (e instanceof SafetensorsException) {
      throw new SafetensorsException({ ...e.detail, message: `${source}: ${e.detail.message}`, source });
    }
    throw e;
  }
  return out;
};

/**
 * Load every tensor of a file as tfjs tensors (the caller owns them), keyed
 * by name in header order.
 *
 * @example
 *   const w = await loadTensors("model.safetensors");
 *   w["lin0.weight"].shape; // [20, 10]
 *   tf.dispose(Object.values(w));
 */
export const loadTensors = async (path: string): Promise<Record<string, tf.Tensor>> =>
  rawToTf((await readSafetensorsFile(path)).tensors, path);

/**
 * How to store each tensor: one dtype applied to every float32 tensor (int32
 * and bool tensors keep I32 / BOOL), or a function choosing per tensor
 * (`undefined` = the default).
 *
 * @example
 *   const half: DtypeChoice = "F16";
 *   const ids: DtypeChoice = (name, t) => (t.dtype === "int32" ? "I64" : undefined);
 */
export type DtypeChoice = Dtype | ((name: string, t: tf.Tensor) => Dtype | undefined);

/**
 * Options for {@link writeSafetensorsFile}.
 *
 * @example
 *   const opts: WriteOptions = { metadata: { format: "pt" }, dtype: "BF16" };
 */
export interface WriteOptions {
  readonly metadata?: Readonly<Record<string, string>>;
  readonly dtype?: DtypeChoice;
}

const chooseDtype = (choice: DtypeChoice | undefined, name: string, t: tf.Tensor): Dtype | undefined =>
  typeof choice === "function" ? choice(name, t) : t.dtype === "float32" ? choice : undefined;

/**
 * Read tfjs tensors into raw tensors, choosing each dtype. Does not dispose.
 *
 * @example
 *   const raws = await tfToRaw({ w }, "BF16");
 */
export const tfToRaw = async (
  tensors: Readonly<Record<string, tf.Tensor>>,
  dtype?: DtypeChoice,
): Promise<Array<readonly [string, RawTensor]>> => {
  const out: Array<readonly [string, RawTensor]> = [];
  for (const [name, t] of Object.entries(tensors)) {
    out.push([name, await fromTfTensor(t, chooseDtype(dtype, name, t), name)]);
  }
  return out;
};

const tempName = (path: string): string => `${path}.tmp-${randomBytes(6).toString("hex")}`;

/**
 * Write `parts` to a fresh temporary file next to `path`, fsync it, and
 * return its name (`<path>.tmp-<random>`). On failure the temporary file is
 * removed. The caller renames it into place.
 *
 * @example
 *   const tmp = await writeTemp("out.safetensors", [bytes]); // "out.safetensors.tmp-3f9a0c1b2d4e"
 */
export const writeTemp = async (path: string, parts: Iterable<Uint8Array>): Promise<string> => {
  const tmp = tempName(path);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(tmp, "wx");
    for (const p of parts) {
      for (let at = 0; at < p.length; ) {
        const { bytesWritten } = await fh.write(p, at, p.length - at);
        at += bytesWritten;
      }
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    return tmp;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SafetensorsException(stError("WriteFailed", `cannot write: ${errnoText(e)}`, { source: path }));
  }
};

/**
 * Replace `path` by `parts` atomically: readers see the old file or the
 * whole new one, never a partial write; on failure the old file is untouched
 * and no temporary file is left behind.
 *
 * @example
 *   await atomicWrite("config.json", [new TextEncoder().encode("{}")]);
 */
export const atomicWrite = async (path: string, parts: Iterable<Uint8Array>): Promise<void> => {
  const tmp = await writeTemp(path, parts);
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SafetensorsException(stError("WriteFailed", `cannot replace: ${errnoText(e)}`, { source: path }));
  }
};

/**
 * Write tfjs tensors to a safetensors file, atomically (temporary file, then
 * rename). Tensors are not disposed. Throws a {@link SafetensorsException}
 * naming the path when a tensor cannot be stored or the write fails; the old
 * file is then left as it was.
 *
 * @example
 *   await writeSafetensorsFile("adapter_model.safetensors", { "lin0.lora_A.weight": a }, { metadata: { format: "pt" } });
 */
export const writeSafetensorsFile = async (
  path: string,
  tensors: Readonly<Record<string, tf.Tensor>>,
  options: WriteOptions = {},
): Promise<void> => {
  let raws: Array<readonly [string, RawTensor]>;
  try {
    raws = await tfToRaw(tensors, options.dtype);
  } catch (e) {
    if (e instanceof SafetensorsException) {
      throw new SafetensorsException({ ...e.detail, message: `${path}: ${e.detail.message}`, source: path });
    }
    throw e;
  }
  await writeRawFile(path, raws, options.metadata);
};

/**
 * Write raw tensors to a safetensors file atomically.
 *
 * @example
 *   await writeRawFile("ids.safetensors", [["ids", { dtype: "I64", shape: [1], bytes: new Uint8Array(8) }]]);
 */
export const writeRawFile = async (
  path: string,
  tensors: Iterable<readonly [string, RawTensor]>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> => {
  const enc = encodeSafetensorsParts(tensors, metadata);
  if (E.isLeft(enc)) {
    throw new SafetensorsException({ ...enc.left, message: `${path}: ${enc.left.message}`, source: path });
  }
  await atomicWrite(path, [enc.right.head, ...enc.right.parts]);
};
