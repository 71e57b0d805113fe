/**
 * Loading a Hugging Face model folder (`config.json` + `model.safetensors`
 * or a sharded index) into a tree, dispatching on `model_type`. Keys are
 * matched as transformers does: the backbone prefix is added or stripped
 * as the task needs, buffers and other tasks' heads are ignored, and a task
 * head a base checkpoint lacks is initialised fresh (and reported).
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../tree/node.js";
import { tensorsOf } from "../../tree/dispose.js";
import type { StateDict } from "../../tree/params.js";
import { PeftError } from "../../io/errors.js";
import { loadCheckpoint } from "../../io/safetensors.js";
import { architectureOf, taskOfConfig, type Architecture } from "../architectures.js";
import { stateDictSource, randomInit } from "../common/source.js";
import type { TaskType } from "../tasks/root.js";

/** Options of {@link loadModel}. */
export interface ModelLoadOptions {
  /** The head to build; default from `config.json → architectures`, else the model type's default. */
  readonly task?: TaskType;
  /** Seed for head weights the checkpoint lacks (default 0). */
  readonly seed?: number;
}

/** What loading did besides copying weights. */
export interface LoadReport {
  /** Keys the checkpoint lacked that were initialised fresh (task heads, pooler). */
  readonly initialized: ReadonlyArray<string>;
  /** Checkpoint keys that were not used (buffers, tied copies, other heads). */
  readonly ignored: ReadonlyArray<string>;
}

const HEADS = /^(lm_head|score|classifier|cls|qa_outputs)\./;

/**
 * Checkpoint keys as the tree for `task` names them (prefix added/stripped, gamma/beta renamed).
 *
 * @example
 *   normalizeKeys({ "h.0.ln_1.weight": w }, "transformer", "CAUSAL_LM") // { "transformer.h.0.ln_1.weight": w }
 */
export const normalizeKeys = (sd: StateDict, prefix: string, task: TaskType): StateDict => {
  const renamed = Object.entries(sd).map(([k, t]) => [k.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias"), t] as const);
  const p = `${prefix}.`;
  const hasPrefix = renamed.some(([k]) => k.startsWith(p));
  const out = renamed.map(([k, t]) => {
    if (task === "FEATURE_EXTRACTION") return [k.startsWith(p) ? k.slice(p.length) : k, t] as const;
    return [hasPrefix || HEADS.test(k) ? k : `${p}${k}`, t] as const;
  });
  return Object.fromEntries(out);
};

const ignorable = (arch: Architecture, task: TaskType, key: string): boolean =>
  arch.ignoreUnexpected.some((re) => re.test(key)) ||
  (task !== "CAUSAL_LM" && /^lm_head\./.test(key)) ||
  (task !== "SEQ_CLS" && task !== "TOKEN_CLS" && /^(score|classifier)\./.test(key));

const freshAllowed = (key: string): boolean => /^(score|classifier)\./.test(key) || /(^|\.)pooler\./.test(key);

const readConfig = async (dir: string): Promise<unknown> => {
  const file = nodePath.join(dir, "config.json");
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new PeftError(`${file}: cannot read model config (${(e as Error).message})`, { path: file });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PeftError(`${file}: not valid JSON (${(e as Error).message})`, { path: file });
  }
};

/**
 * Load a model folder and say what was initialised or ignored. Throws a
 * `PeftError` naming every missing, unexpected or mis-shaped key (nothing
 * leaks: all tensors read are disposed on failure).
 *
 * @example
 *   const { model, report } = await loadModelWithReport("./bert-base", { task: "SEQ_CLS" })
 *   report.initialized // ["classifier.weight", "classifier.bias"]
 */
export const loadModelWithReport = async (dir: string, o: ModelLoadOptions = {}): Promise<{ readonly model: Node; readonly report: LoadReport }> => {
  const config = await readConfig(dir);
  const found = architectureOf(config);
  if (E.isLeft(found)) throw new PeftError(`${dir}: ${found.left.message}`, { path: dir });
  const { arch, modelType } = found.right;
  const task = o.task ?? taskOfConfig(config);
  let raw: Record<string, tf.Tensor>;
  try {
    raw = await loadCheckpoint(dir);
  } catch (e) {
    throw new PeftError(`${dir}: cannot load weights (${(e as Error).message})`, { path: dir, cause: e });
  }
  const sd = normalizeKeys(raw, arch.basePrefix(modelType), task);
  const src = stateDictSource(sd, { fallback: randomInit(o.seed ?? 0), fresh: freshAllowed });
  const built = arch.build(config, { task, source: src.source });
  const fail = (message: string, model?: Node): never => {
    tf.dispose(Object.values(raw));
    if (model !== undefined) for (const t of tensorsOf(model)) if (!t.isDisposed) t.dispose();
    throw new PeftError(`${dir}: ${message}`, { path: dir });
  };
  if (E.isLeft(built)) return fail(built.left.message);
  const model = built.right;
  const r = src.report();
  const tied = Object.keys(((model.meta as { tied?: Record<string, string> }).tied ?? {}));
  const unexpected = r.unexpected.filter((k) => !tied.includes(k) && !ignorable(arch, task, k));
  const problems = [
    ...r.shapes,
    ...(r.missing.length > 0 ? [`missing keys: ${r.missing.join(", ")}`] : []),
    ...(unexpected.length > 0 ? [`unexpected keys: ${unexpected.join(", ")}`] : []),
  ];
  if (problems.length > 0) return fail(`checkpoint does not fit ${arch.className(modelType, task)}: ${problems.join("; ")}`, model);
  const kept = tensorsOf(model);
  tf.dispose(Object.values(raw).filter((t) => !kept.has(t)));
  return { model, report: { initialized: r.initialized, ignored: r.unexpected } };
};

/**
 * Load a Hugging Face model folder (`config.json` + `model.safetensors` or
 * `model.safetensors.index.json`) as a tree whose param keys are the
 * checkpoint's. Throws a `PeftError` when the folder does not fit.
 *
 * @example
 *   const gpt2 = await loadModel("./gpt2")                        // kind "gpt2" (GPT2LMHeadModel)
 *   const clf = await loadModel("./roberta", { task: "SEQ_CLS" })  // classifier head initialised fresh
 */
export const loadModel = async (dir: string, o: ModelLoadOptions = {}): Promise<Node> => (await loadModelWithReport(dir, o)).model;
