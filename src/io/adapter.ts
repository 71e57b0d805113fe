/**
 * Saving and loading adapters in Hugging Face PEFT's format:
 * `adapter_config.json` (snake_case, sorted, `inference_mode: true`) and
 * `adapter_model.safetensors` (PEFT's keys, adapter name stripped,
 * `__metadata__: {"format": "pt"}`). The default adapter goes in `dir`,
 * every other adapter X in `dir/X`. Saves are all-or-nothing; loads check every
 * tensor's key and shape and name what is missing or unexpected.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import type * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import { loadStateDict } from "../tree/params.js";
import { tensorsOf } from "../tree/dispose.js";
import { builtinTuners } from "../tuners/index.js";
import type { AnyTuner } from "../tuners/types.js";
import { inject } from "../peft/inject.js";
import { adapterEntry, peftState, validateAdapterName } from "../peft/state.js";
import { encodeSafetensorsParts, loadTensors, tfToRaw, writeTemp } from "./safetensors.js";
import { adapterTensors, type BiasScope } from "./adapter-keys.js";
import { PeftError } from "./errors.js";

export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";
/** The PEFT version whose format this library writes. */
export const PEFT_FORMAT_VERSION = "0.20.0";

const tunerFor = (tuners: ReadonlyMap<string, AnyTuner>, peftType: string, where: string): AnyTuner => {
  const t = tuners.get(peftType);
  if (t === undefined) {
    throw new PeftError(`${where}: peft_type '${peftType}' is not supported (supported: ${[...tuners.keys()].join(", ")})`, { path: where });
  }
  return t;
};

const biasScope = (tuner: AnyTuner, config: unknown): BiasScope => tuner.extraTrainable?.(config) ?? "none";

/** The folder an adapter is saved in: `dir` for "default", `dir/<name>` otherwise. */
export const adapterDir = (dir: string, name: string): string => (name === "default" ? dir : nodePath.join(dir, name));

export interface SaveOptions {
  /** Which adapters (default: all). */
  readonly adapters?: ReadonlyArray<string>;
  readonly tuners?: ReadonlyMap<string, AnyTuner>;
}

/**
 * The JSON PEFT writes for an adapter's config.
 */
export const adapterConfigJson = (model: Node, name: string, tuners: ReadonlyMap<string, AnyTuner> = builtinTuners): Record<string, unknown> => {
  const entry = adapterEntry(model, name);
  const tuner = tunerFor(tuners, entry.peftType, name);
  const config = { ...entry.config, inferenceMode: true, peftVersion: entry.config.peftVersion ?? PEFT_FORMAT_VERSION };
  return { ...tuner.codec.encode(config) };
};

/** One file of a save, fully encoded before anything is written. */
interface PreparedFile {
  readonly path: string;
  readonly parts: ReadonlyArray<Uint8Array>;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Write prepared files all-or-nothing: every file goes to a temporary next to
 * its target first; then old files are moved aside and the new ones renamed
 * in; if any step fails, the old files are put back and the temporaries
 * removed, so the folder holds the old save or the whole new one.
 */
const commitFiles = async (files: ReadonlyArray<PreparedFile>): Promise<void> => {
  const temps: string[] = [];
  const removeTemps = () => Promise.all(temps.map((t) => fs.rm(t, { force: true }).catch(() => undefined)));
  try {
    for (const f of files) {
      await fs.mkdir(nodePath.dirname(f.path), { recursive: true });
      temps.push(await writeTemp(f.path, f.parts));
    }
  } catch (e) {
    await removeTemps();
    throw new PeftError(`saveAdapter: cannot write ${files[temps.length]?.path ?? "a file"} (${errText(e)}); nothing was changed`, {
      path: files[temps.length]?.path,
    });
  }
  const swapped: Array<{ readonly path: string; readonly backup: string | undefined }> = [];
  try {
    for (const [i, f] of files.entries()) {
      const backup = `${f.path}.bak-${randomBytes(6).toString("hex")}`;
      const had = await fs.rename(f.path, backup).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return false;
          throw e;
        },
      );
      swapped.push({ path: f.path, backup: had ? backup : undefined });
      await fs.rename(temps[i] as string, f.path);
    }
  } catch (e) {
    for (const s of swapped.reverse()) {
      await fs.rm(s.path, { force: true }).catch(() => undefined);
      if (s.backup !== undefined) await fs.rename(s.backup, s.path).catch(() => undefined);
    }
    await removeTemps();
    throw new PeftError(`saveAdapter: cannot replace ${files[swapped.length - 1]?.path ?? "a file"} (${errText(e)}); the old files were restored`, {
      path: files[swapped.length - 1]?.path,
    });
  }
  await Promise.all(swapped.map((s) => (s.backup === undefined ? undefined : fs.rm(s.backup, { force: true }).catch(() => undefined))));
};

/**
 * Save adapters in PEFT's format. Every file of every adapter is encoded
 * first and then swapped in all-or-nothing: a save that fails (a tensor that
 * cannot be stored, a config that is not JSON, a folder that cannot be
 * written) leaves an existing save as it was.
 *
 * @example
 *   await saveAdapter(trained, "./out")            // ./out/adapter_config.json + adapter_model.safetensors
 */
export const saveAdapter = async (model: Node, dir: string, options: SaveOptions = {}): Promise<void> => {
  const tuners = options.tuners ?? builtinTuners;
  const names = options.adapters ?? Object.keys(peftState(model).adapters);
  if (names.length === 0) throw new PeftError(`saveAdapter(${dir}): the model has no adapter`, { path: dir });
  const files: PreparedFile[] = [];
  for (const name of names) {
    validateAdapterName(name);
    const entry = adapterEntry(model, name);
    const tuner = tunerFor(tuners, entry.peftType, name);
    const out = adapterDir(dir, name);
    const weightsPath = nodePath.join(out, WEIGHTS_FILE);
    const configPath = nodePath.join(out, CONFIG_FILE);
    const tensors: Record<string, tf.Tensor> = {};
    for (const t of adapterTensors(model, name, biasScope(tuner, entry.config))) tensors[t.fileKey] = t.tensor;
    let raws: Awaited<ReturnType<typeof tfToRaw>>;
    try {
      raws = await tfToRaw(tensors);
    } catch (e) {
      throw new PeftError(`${weightsPath}: ${errText(e)}`, { path: weightsPath });
    }
    const enc = encodeSafetensorsParts(raws, { format: "pt" });
    if (E.isLeft(enc)) throw new PeftError(`${weightsPath}: ${enc.left.message}`, { path: weightsPath });
    let json: string;
    try {
      json = JSON.stringify(adapterConfigJson(model, name, tuners), null, 2) + "\n";
    } catch (e) {
      throw new PeftError(`${configPath}: the config cannot be written as JSON (${errText(e)})`, { path: configPath });
    }
    files.push({ path: weightsPath, parts: [enc.right.head, ...enc.right.parts] });
    files.push({ path: configPath, parts: [new TextEncoder().encode(json)] });
  }
  await commitFiles(files);
};

export interface LoadOptions {
  /** Default `"default"`. */
  readonly adapterName?: string;
  /** Load the adapter's params as trainable (PEFT's `is_trainable`). Default false. */
  readonly isTrainable?: boolean;
  readonly tuners?: ReadonlyMap<string, AnyTuner>;
}

/** Read and decode an adapter_config.json. */
export const readAdapterConfig = async (
  dir: string,
  tuners: ReadonlyMap<string, AnyTuner> = builtinTuners,
): Promise<{ readonly tuner: AnyTuner; readonly config: any }> => {
  const file = nodePath.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new PeftError(`${file}: cannot read adapter config (${(e as Error).message})`, { path: file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PeftError(`${file}: not valid JSON (${(e as Error).message})`, { path: file });
  }
  const peftType = (json as { peft_type?: unknown } | null)?.peft_type;
  if (typeof peftType !== "string") throw new PeftError(`${file}: missing 'peft_type'`, { path: file });
  const tuner = tunerFor(tuners, peftType, file);
  const r = tuner.codec.decode(json);
  if (E.isLeft(r)) throw new PeftError(`${file}: invalid config: ${PathReporter.report(r).join("; ")}`, { path: file });
  return { tuner, config: r.right };
};

/**
 * Load a PEFT adapter folder into a model (PEFT's `PeftModel.from_pretrained`
 * / `load_adapter`). Every key of the file must be expected and every
 * expected key present (PEFT 0.20's unsaved `lora_only` biases excepted), with
 * matching shapes; otherwise a `PeftError` names each key.
 *
 * @example
 *   const adapted = await loadAdapter(base, "./peft-adapter")
 *   const second  = await loadAdapter(adapted, "./out/b", { adapterName: "b" })
 */
export const loadAdapter = async (model: Node, dir: string, options: LoadOptions = {}): Promise<Node> => {
  const tuners = options.tuners ?? builtinTuners;
  const name = options.adapterName ?? "default";
  const { tuner, config } = await readAdapterConfig(dir, tuners);
  const file = nodePath.join(dir, WEIGHTS_FILE);
  let weights: Record<string, tf.Tensor>;
  try {
    weights = await loadTensors(file);
  } catch (e) {
    throw new PeftError(`${file}: ${(e as Error).message}`, { path: file });
  }
  let injected: Node | undefined;
  try {
    injected = inject(model, tuner, config, { adapterName: name, trainable: options.isTrainable ?? false, loading: true });
    const expected = adapterTensors(injected, name, biasScope(tuner, config));
    const byFile = new Map(expected.map((t) => [t.fileKey, t]));
    const missing = expected.filter((t) => !(t.fileKey in weights) && !t.optional).map((t) => t.fileKey);
    const unexpected = Object.keys(weights).filter((k) => !byFile.has(k));
    const shapes = expected
      .filter((t) => t.fileKey in weights && (weights[t.fileKey] as tf.Tensor).shape.join(",") !== t.tensor.shape.join(","))
      .map((t) => `${t.fileKey}: expected [${t.tensor.shape.join(", ")}], got [${(weights[t.fileKey] as tf.Tensor).shape.join(", ")}]`);
    if (missing.length + unexpected.length + shapes.length > 0) {
      const parts = [
        shapes.length > 0 ? `shape mismatch: ${shapes.join("; ")}` : "",
        missing.length > 0 ? `missing keys: ${missing.join(", ")}` : "",
        unexpected.length > 0 ? `unexpected keys: ${unexpected.join(", ")}` : "",
      ].filter((s) => s !== "");
      throw new PeftError(`${file}: adapter '${name}' does not fit the model: ${parts.join("; ")}`, { path: file, missing, unexpected, shapes });
    }
    const sd = Object.fromEntries(expected.filter((t) => t.fileKey in weights).map((t) => [t.treeKey, weights[t.fileKey] as tf.Tensor]));
    const loaded = loadStateDict(injected, sd, { strict: false });
    if (E.isLeft(loaded)) throw new PeftError(`${file}: ${loaded.left.message}`, { path: file });
    const keep = new Set([...tensorsOf(model), ...tensorsOf(loaded.right)]);
    for (const t of tensorsOf(injected)) if (!keep.has(t)) t.dispose();
    return loaded.right;
  } catch (e) {
    const keep = tensorsOf(model);
    for (const t of Object.values(weights)) if (!t.isDisposed) t.dispose();
    if (injected !== undefined) for (const t of tensorsOf(injected)) if (!keep.has(t) && !t.isDisposed) t.dispose();
    throw e;
  }
};
