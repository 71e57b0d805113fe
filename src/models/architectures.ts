/**
 * The architectures this library builds, by HF `model_type`: how to decode
 * the config, build a tree for a task, name the HF class, and which checkpoint
 * keys to tolerate. `loadModel` dispatches through this table; add an entry
 * (with its kinds) to support another model type.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import type { Node } from "../tree/node.js";
import { configError, type ConfigError } from "./common/config.js";
import { decodeBertConfig } from "./bert/config.js";
import { buildBert } from "./bert/build.js";
import { decodeGpt2Config } from "./gpt2/config.js";
import { buildGpt2 } from "./gpt2/build.js";
import { decodeLlamaConfig } from "./llama/config.js";
import { buildLlama } from "./llama/build.js";
import type { BuildOptions, TaskType } from "./tasks/root.js";

/** One architecture family. */
export interface Architecture {
  /** `model_type`s it handles. */
  readonly modelTypes: ReadonlyArray<string>;
  /** Decode `config.json` and build (fresh or from `o.source`). */
  readonly build: (config: unknown, o: BuildOptions) => E.Either<ConfigError, Node>;
  /** The task when neither the caller nor `config.architectures` says. */
  readonly defaultTask: TaskType;
  /** HF's class name for a task (written to `config.json → architectures`). */
  readonly className: (modelType: string, task: TaskType) => string;
  /** HF's `base_model_prefix` (`transformer`, `model`, `bert`…). */
  readonly basePrefix: (modelType: string) => string;
  /** Checkpoint keys that may be present without a parameter (buffers, other heads). */
  readonly ignoreUnexpected: ReadonlyArray<RegExp>;
}

const classNames = (base: string, lm: string): ((task: TaskType) => string) => (task) =>
  task === "CAUSAL_LM" ? `${base}${lm}` : task === "SEQ_CLS" ? `${base}ForSequenceClassification` : task === "TOKEN_CLS" ? `${base}ForTokenClassification` : `${base}Model`;

const gpt2: Architecture = {
  modelTypes: ["gpt2"],
  build: (json, o) => pipe(decodeGpt2Config(json), E.map((c) => buildGpt2(c, o))),
  defaultTask: "CAUSAL_LM",
  className: (_m, task) => classNames("GPT2", "LMHeadModel")(task),
  basePrefix: () => "transformer",
  ignoreUnexpected: [/(^|\.)attn\.(masked_)?bias$/],
};

const llamaBase: Readonly<Record<string, string>> = { llama: "Llama", mistral: "Mistral", qwen2: "Qwen2" };

const llama: Architecture = {
  modelTypes: ["llama", "mistral", "qwen2"],
  build: (json, o) => pipe(decodeLlamaConfig(json), E.map((c) => buildLlama(c, o))),
  defaultTask: "CAUSAL_LM",
  className: (m, task) => classNames(llamaBase[m] ?? "Llama", "ForCausalLM")(task),
  basePrefix: () => "model",
  ignoreUnexpected: [/rotary_emb\.inv_freq$/],
};

const bert: Architecture = {
  modelTypes: ["bert", "roberta"],
  build: (json, o) => pipe(decodeBertConfig(json), E.map((c) => buildBert(c, o))),
  defaultTask: "FEATURE_EXTRACTION",
  className: (m, task) => classNames(m === "roberta" ? "Roberta" : "Bert", "ForCausalLM")(task),
  basePrefix: (m) => m,
  ignoreUnexpected: [/^cls\./, /^lm_head\./, /embeddings\.position_ids$/, /(^|\.)pooler\./],
};

/**
 * Every architecture, by model type.
 *
 * @example
 *   architectures.get("qwen2")?.className("qwen2", "SEQ_CLS") // "Qwen2ForSequenceClassification"
 */
export const architectures: ReadonlyMap<string, Architecture> = new Map(
  [gpt2, llama, bert].flatMap((a) => a.modelTypes.map((m) => [m, a] as const)),
);

/**
 * The `model_type` of a config object (`Left` when absent or unknown).
 *
 * @example
 *   architectureOf({ model_type: "mistral" }) // Right({ modelType: "mistral", arch })
 */
export const architectureOf = (config: unknown): E.Either<ConfigError, { readonly modelType: string; readonly arch: Architecture }> => {
  const modelType = (config as { model_type?: unknown } | null)?.model_type;
  if (typeof modelType !== "string") return E.left(configError("config.json: no 'model_type' string"));
  const arch = architectures.get(modelType);
  return arch === undefined
    ? E.left(configError(`config.json: model_type '${modelType}' is not supported (supported: ${[...architectures.keys()].join(", ")})`))
    : E.right({ modelType, arch });
};

/**
 * The task a config's `architectures` names (`GPT2ForSequenceClassification` → `SEQ_CLS`),
 * else the architecture's default.
 *
 * @example
 *   taskOfConfig({ model_type: "bert", architectures: ["BertForTokenClassification"] }) // "TOKEN_CLS"
 */
export const taskOfConfig = (config: unknown): TaskType => {
  const names = (config as { architectures?: unknown } | null)?.architectures;
  const first = Array.isArray(names) && typeof names[0] === "string" ? (names[0] as string) : "";
  if (/ForCausalLM$|LMHeadModel$/.test(first)) return "CAUSAL_LM";
  if (/ForSequenceClassification$/.test(first)) return "SEQ_CLS";
  if (/ForTokenClassification$/.test(first)) return "TOKEN_CLS";
  if (/Model$/.test(first)) return "FEATURE_EXTRACTION";
  return pipe(
    architectureOf(config),
    E.match(
      () => "CAUSAL_LM" as TaskType,
      ({ arch }) => arch.defaultTask,
    ),
  );
};

/**
 * Build a model from a `config.json` object by its `model_type`.
 *
 * @example
 *   const model = buildFromConfig({ model_type: "gpt2", n_embd: 32, n_layer: 2, n_head: 4 }, { seed: 0 })
 *   // Right(node of kind "gpt2")
 */
export const buildFromConfig = (config: unknown, o: BuildOptions = {}): E.Either<ConfigError, Node> =>
  pipe(
    architectureOf(config),
    E.chain(({ arch }) => arch.build(config, { ...o, task: o.task ?? taskOfConfig(config) })),
  );
