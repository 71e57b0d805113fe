/**
 * Putting a backbone under the root PEFT's task type asks for, with HF's
 * module names: `CAUSAL_LM` (`…ForCausalLM`, lm_head tied or not),
 * `SEQ_CLS` (`…ForSequenceClassification`), `TOKEN_CLS`
 * (`…ForTokenClassification`), `FEATURE_EXTRACTION` (the bare backbone
 * `…Model`, whose keys have no prefix).
 */
import { node, withMeta, type Node } from "../../tree/node.js";
import type { RootMeta } from "../common/head.js";
import type { ParamSource } from "../common/source.js";
import type { Pooling } from "./kinds.js";
import { loraTargetModules } from "./targets.js";

/** PEFT's task types this library builds heads for. */
export type TaskType = RootMeta["task"];

/**
 * Every task type, for codecs and errors.
 *
 * @example
 *   taskTypes.includes("SEQ_CLS") // true
 */
export const taskTypes: ReadonlyArray<TaskType> = ["CAUSAL_LM", "SEQ_CLS", "TOKEN_CLS", "FEATURE_EXTRACTION"];

/** Options of the builders (`buildGpt2`, `buildLlama`, `buildBert`): the task head and where weights come from. */
export interface BuildOptions {
  /** Default `CAUSAL_LM` (`FEATURE_EXTRACTION` for encoders). */
  readonly task?: TaskType;
  /** Default: fresh HF init with `seed`. */
  readonly source?: ParamSource;
  /** Seed of the fresh init (default 0). */
  readonly seed?: number;
}

/** What an architecture supplies to {@link taskRoot}; a missing head means the task is unsupported. */
export interface TaskParts {
  readonly task: TaskType;
  /** The backbone node and its child name under the root ("" for FEATURE_EXTRACTION). */
  readonly backbone: Node;
  readonly backboneName: string;
  /** Root meta except `task`, `backbone` and `tied`. */
  readonly meta: Omit<RootMeta, "task" | "backbone" | "tied" | "defaultTargetModules">;
  /** CAUSAL_LM: the root kind, whether lm_head is tied, and the untied head. */
  readonly causalLm?: { readonly kind: string; readonly tied: boolean; readonly lmHead: () => Node };
  /** SEQ_CLS: head name (`score`, `classifier`), head, pooling, dropout. */
  readonly seqCls?: { readonly name: string; readonly head: () => Node; readonly pooling: Pooling; readonly dropout?: number };
  /** TOKEN_CLS: head name and head. */
  readonly tokenCls?: { readonly name: string; readonly head: () => Node; readonly dropout?: number };
}

const unsupported = (p: TaskParts): never => {
  throw new Error(`model_type '${p.meta.modelType}' has no ${p.task} head here (supported: ${taskTypes.filter((t) => supports(p, t)).join(", ")})`);
};

const supports = (p: TaskParts, t: TaskType): boolean =>
  t === "FEATURE_EXTRACTION" || (t === "CAUSAL_LM" ? p.causalLm : t === "SEQ_CLS" ? p.seqCls : p.tokenCls) !== undefined;

/**
 * The root node for a task.
 *
 * @example
 *   taskRoot({ task: "SEQ_CLS", backbone, backboneName: "transformer", meta,
 *              seqCls: { name: "score", head: () => score, pooling: { _tag: "last", padTokenId: 0 } } })
 */
export const taskRoot = (p: TaskParts): Node => {
  const targets = loraTargetModules[p.meta.modelType];
  const meta = { ...p.meta, task: p.task, backbone: p.backboneName, ...(targets === undefined ? {} : { defaultTargetModules: targets }) };
  switch (p.task) {
    case "FEATURE_EXTRACTION":
      return withMeta(p.backbone, { ...meta, backbone: "" });
    case "CAUSAL_LM": {
      const lm = p.causalLm ?? unsupported(p);
      const tied: RootMeta["tied"] = { "lm_head.weight": `${p.meta.inputEmbeddings}.weight` };
      return node(lm.kind, {
        children: { [p.backboneName]: p.backbone, ...(lm.tied ? {} : { lm_head: lm.lmHead() }) },
        // outputHead: what "all-linear" leaves out (PEFT excludes the output embeddings)
        meta: lm.tied ? { ...meta, tied } : { ...meta, outputHead: "lm_head" },
      });
    }
    case "SEQ_CLS": {
      const s = p.seqCls ?? unsupported(p);
      return node("seqCls", {
        children: { [p.backboneName]: p.backbone, [s.name]: s.head() },
        meta: { ...meta, head: s.name, outputHead: s.name, pooling: s.pooling, ...(s.dropout === undefined ? {} : { headDropout: s.dropout }) },
      });
    }
    case "TOKEN_CLS": {
      const s = p.tokenCls ?? unsupported(p);
      return node("tokenCls", {
        children: { [p.backboneName]: p.backbone, [s.name]: s.head() },
        meta: { ...meta, head: s.name, ...(s.dropout === undefined ? {} : { headDropout: s.dropout }) },
      });
    }
  }
};

/**
 * The prefix of backbone keys for a task (`transformer`, or "" for FEATURE_EXTRACTION).
 *
 * @example
 *   backbonePrefix("FEATURE_EXTRACTION", "transformer") // ""
 */
export const backbonePrefix = (task: TaskType, name: string): string => (task === "FEATURE_EXTRACTION" ? "" : name);
