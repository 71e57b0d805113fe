/**
 * What a tuner is: data plus pure functions (PEFT's `LoraVariant` made
 * first-class). The generic machinery — inject, merge, unmerge, unload,
 * adapters on/off, save/load — is written once against this interface.
 *
 * An adapted layer is a node of the tuner's `kind`:
 *
 *   { kind: "lora",
 *     children: { base_layer: <the original node>,
 *                 lora_A: dict{ default: linear, other: linear },     // a slot per adapter
 *                 lora_B: dict{ … } },
 *     meta: TunerLayerMeta }
 *
 * Each slot is a `dict` whose entries are one per adapter: a child node
 * (`lora_A.default.weight`) or a bare param (`lora_embedding_A.default`).
 * Dropping the adapter segment gives PEFT's file key (`lora_A.weight`,
 * `lora_embedding_A`), so save/load need no per-method code.
 */
import type * as t from "io-ts";
import type * as tf from "@tensorflow/tfjs-core";
import type { Node } from "../tree/node.js";
import type { Path } from "../tree/path.js";
import type { Ctx } from "../nn/registry.js";
import type { Seed } from "../nn/init.js";
import type { BaseConfig, JsonConfig } from "./config.js";

/** Per-adapter settings a tuner keeps on a layer (scaling, rank, variant flags…). */
export type AdapterSettings = Readonly<Record<string, unknown>>;

/** The meta of an adapted layer. */
export interface TunerLayerMeta {
  /** The tuner's PEFT type (`LORA`). */
  readonly peftType: string;
  /** Adapters the forward uses, in order (the model-level active set). */
  readonly active: ReadonlyArray<string>;
  /** All adapters off: the layer computes its base output. */
  readonly disabled: boolean;
  /** Adapters folded into `base_layer`'s weights (skipped by the forward). */
  readonly merged: ReadonlyArray<string>;
  /** `base_layer` as it was before the first merge; restored exactly by unmerge. */
  readonly original?: Node;
  /** Settings per adapter present on this layer. */
  readonly adapters: Readonly<Record<string, AdapterSettings>>;
}

/** One adapter's entries on one layer: slot name → module or bare param. */
export type SlotEntries = Readonly<Record<string, Node | tf.Tensor>>;

/** What `create` returns for one layer. */
export interface Created {
  readonly slots: SlotEntries;
  readonly settings: AdapterSettings;
}

/** Arguments of `create`. */
export interface CreateArgs<C> {
  readonly config: C;
  readonly adapter: string;
  readonly path: Path;
  /** The node being adapted (a leaf like `linear`). */
  readonly base: Node;
  readonly seed: Seed;
  /** Weights are about to be loaded: any cheap init will do (data-driven inits are skipped). */
  readonly loading: boolean;
}

/**
 * A tuner: a PEFT method as data and functions.
 */
export interface Tuner<C extends BaseConfig = BaseConfig> {
  /** PEFT's `peft_type` (`LORA`). */
  readonly peftType: string;
  /** The node kind of adapted layers (`lora`). */
  readonly kind: string;
  /** adapter_config.json ⇄ config. */
  readonly codec: t.Type<C, JsonConfig, unknown>;
  /** A config with PEFT's defaults. */
  readonly defaults: C;
  /** Slot names, in the order they are added to a layer. */
  readonly slots: ReadonlyArray<string>;
  /** Kinds of base layers this tuner can adapt. */
  readonly supports: ReadonlyArray<string>;
  /** One adapter's entries and settings for one layer. */
  readonly create: (args: CreateArgs<C>) => Created;
  /** The adapted layer's output with `adapters` (active, unmerged; non-empty) applied. */
  readonly forward: (layer: Node, x: tf.Tensor, ctx: Ctx, adapters: ReadonlyArray<string>) => tf.Tensor;
  /** `base` with one adapter folded into its weights; absent when the method cannot merge. */
  readonly merge?: (layer: Node, adapter: string, base: Node) => Node;
  /**
   * The config as PEFT records it once the targets are known (e.g. LoRA sets
   * `fan_in_fan_out` to the layout of the layers it adapts). Default: unchanged.
   */
  readonly resolveConfig?: (config: C, targets: ReadonlyArray<Node>) => C;
  /** Which params outside the slots an adapter trains and saves (e.g. LoRA's `bias`). */
  readonly extraTrainable?: (config: C) => "none" | "all_biases" | "adapted_biases";
  /** Tolerance of forward∘merge ≈ forward (float32). */
  readonly tolerance: { readonly atol: number; readonly rtol: number };
}

/** A tuner of any config. */
export type AnyTuner = Tuner<any>;
