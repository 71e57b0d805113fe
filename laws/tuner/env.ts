/**
 * What the tuner laws talk about: a model case (base model and input), the
 * environment one law runs in, its verdict, and the laws' names.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../../src/tree/node.js";
import type { Kinds } from "../../src/nn/registry.js";
import type { BaseConfig } from "../../src/tuners/config.js";
import type { Tuner } from "../../src/tuners/types.js";

/**
 * A base model and an input for it. Both are built on demand so a property
 * owns (and frees) fresh tensors on every run.
 *
 * @example
 *   const mlpCase: ModelCase = { name: "mlp", model: () => fromLayers(specs, 0), input: () => tf.randomNormal([2, 10]) }
 */
export interface ModelCase {
  readonly name: string;
  readonly model: () => Node;
  readonly input: () => tf.Tensor;
  /** Side inputs for `apply` (attention masks…). */
  readonly side?: Readonly<Record<string, unknown>>;
  /** Kinds beyond the built-in ones (a custom architecture's). */
  readonly kinds?: Kinds;
}

/** The verdict of a law: `ok`, or what went wrong. */
export interface LawResult {
  readonly ok: boolean;
  readonly message: string;
}

export const pass: LawResult = { ok: true, message: "" };
export const fail = (message: string): LawResult => ({ ok: false, message });

/** Everything a tuner law needs. `base` and `input` belong to the caller and are never disposed. */
export interface TunerLawEnv<C extends BaseConfig> {
  readonly tuner: Tuner<C>;
  readonly config: C;
  readonly base: Node;
  readonly input: tf.Tensor;
  readonly side?: Readonly<Record<string, unknown>>;
  /** Kinds beyond the built-in ones and the tuner's layer kind. */
  readonly kinds?: Kinds;
  /** Seed of the adapter init and perturbation. Default 0. */
  readonly seed?: number;
  /** Std of the noise added to every adapter tensor so it is not a no-op. Default 0.1; 0: none. */
  readonly perturb?: number;
  /** The adapter's name. Default `"default"`. */
  readonly adapterName?: string;
}

/** The names of the tuner laws. */
export type TunerLawName =
  | "freshInit"
  | "disabled"
  | "mergeForward"
  | "unmergeMerge"
  | "mergeIdempotent"
  | "unloadInject"
  | "loadSave"
  | "mergeCommutes";

export const tunerLawNames: ReadonlyArray<TunerLawName> = [
  "freshInit",
  "disabled",
  "mergeForward",
  "unmergeMerge",
  "mergeIdempotent",
  "unloadInject",
  "loadSave",
  "mergeCommutes",
];
