/**
 * The options and errors of {@link addWeightedAdapter} (../weighted.ts), and
 * the checks on them that need no tensors: refusals are thrown as `Refused`
 * inside the build and returned as `Left` by the public function.
 */
import type { LoraConfig } from "../../tuners/lora/index.js";
import type * as TM from "../../math/task-merge.js";

/** PEFT's combination types. */
export type CombinationType =
  | "linear"
  | "cat"
  | "svd"
  | "ties"
  | "ties_svd"
  | "dare_linear"
  | "dare_ties"
  | "dare_linear_svd"
  | "dare_ties_svd"
  | "magnitude_prune"
  | "magnitude_prune_svd";

export const combinationTypes: ReadonlyArray<CombinationType> = [
  "linear",
  "cat",
  "svd",
  "ties",
  "ties_svd",
  "dare_linear",
  "dare_ties",
  "dare_linear_svd",
  "dare_ties_svd",
  "magnitude_prune",
  "magnitude_prune_svd",
];

export interface WeightedAdapterOptions {
  /** Adapters to combine (LoRA, all present in the model). */
  readonly adapters: ReadonlyArray<string>;
  /** One weight per adapter; negative weights subtract. */
  readonly weights: ReadonlyArray<number>;
  /** Name of the new adapter (must not exist). */
  readonly adapterName: string;
  /** Default `"svd"`, as PEFT. A single adapter always combines linearly (as PEFT). */
  readonly combinationType?: CombinationType;
  /** Rank of an `*svd` result (default: the largest rank of the inputs). */
  readonly svdRank?: number;
  /** Clamp U·S and Vh to ± this quantile of their entries (`*svd` only). */
  readonly svdClamp?: number;
  /** Fraction of entries kept by ties / dare / magnitude_prune, in [0, 1]. */
  readonly density?: number;
  /** TIES' sign election. Default `"total"`. */
  readonly majoritySignMethod?: TM.MajoritySignMethod;
  /** Seed of DARE's random masks (not torch's stream; see `task-merge.ts`). Default 0. */
  readonly seed?: number;
}

/** Why a weighted adapter was refused. */
export type WeightedAdapterError =
  | { readonly _tag: "UnknownAdapter"; readonly adapter: string; readonly message: string }
  | { readonly _tag: "AdapterExists"; readonly adapter: string; readonly message: string }
  | { readonly _tag: "RankMismatch"; readonly message: string }
  | { readonly _tag: "Unsupported"; readonly message: string }
  | { readonly _tag: "InvalidArgument"; readonly message: string };

export class Refused extends Error {
  constructor(readonly error: WeightedAdapterError) {
    super(error.message);
  }
}

export const refuse = (error: WeightedAdapterError): never => {
  throw new Refused(error);
};

export const invalid = (message: string): never => refuse({ _tag: "InvalidArgument", message });

/** The largest r an adapter can have on a layer (PEFT sizes the new adapter by it). */
export const maxRank = (c: LoraConfig): number => Math.max(c.r, ...Object.values(c.rankPattern));

export const unionTargets = (configs: ReadonlyArray<LoraConfig>): string | ReadonlyArray<string> => {
  const ts = configs.map((c) => c.targetModules);
  if (ts.some((t) => t === null)) return refuse({ _tag: "Unsupported", message: "adapters without target_modules cannot be combined" });
  const strings = ts.filter((t): t is string => typeof t === "string");
  if (strings.length === ts.length) {
    if (strings.every((s) => s === "all-linear")) return "all-linear";
    if (strings.includes("all-linear")) return refuse({ _tag: "Unsupported", message: "cannot combine target_modules 'all-linear' with a regex" });
    return strings.map((s) => `(${s})`).join("|");
  }
  if (strings.length > 0) {
    return refuse({
      _tag: "Unsupported",
      message: "all adapters' target_modules must be of the same type: a mix of list and regex string is not supported (as PEFT)",
    });
  }
  return [...new Set((ts as ReadonlyArray<ReadonlyArray<string>>).flat())];
};
