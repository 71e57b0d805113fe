/**
 * Running a model: `apply(model, x)` opens a `tf.tidy`, builds the context
 * (kind registry, training flag, side inputs) and calls the root's forward.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Node } from "./tree/node.js";
import { extendKinds, forward, type Ctx, type Kinds } from "./nn/registry.js";
import { nnKinds } from "./nn/index.js";
import { modelKinds } from "./models/index.js";
import { tunerKinds } from "./tuners/index.js";
import { BASE_ADAPTER } from "./tuners/mixed-batch.js";
import { peftState } from "./peft/state.js";

/** Every kind this library defines: leaves, containers, architectures and tuner layers. */
export const builtinKinds: Kinds = extendKinds(nnKinds, ...modelKinds.values(), ...tunerKinds.values());

export interface ApplyOptions {
  /** Training mode (dropout active). Default false. */
  readonly training?: boolean;
  /** The kind registry. Default {@link builtinKinds}. */
  readonly kinds?: Kinds;
  /** Side inputs for kinds that read them (attention masks, position ids…). */
  readonly side?: Readonly<Record<string, unknown>>;
  /**
   * A mixed-adapter batch (PEFT's `adapter_names`): one adapter name per
   * sample, `"__base__"` for none; overrides the active adapters. Eval mode
   * only, no merged adapters (as PEFT).
   */
  readonly adapterNames?: ReadonlyArray<string>;
}

/** The context `apply` passes to forwards. */
export const makeCtx = (options: ApplyOptions = {}): Ctx => ({
  ...(options.side ?? {}),
  kinds: options.kinds ?? builtinKinds,
  training: options.training ?? false,
  ...(options.adapterNames !== undefined ? { adapterNames: options.adapterNames } : {}),
});

/** PEFT's checks of `adapter_names`: eval mode, and every name an adapter of the model or `"__base__"`. */
const checkAdapterNames = (model: Node, options: ApplyOptions): void => {
  const names = options.adapterNames;
  if (names === undefined) return;
  if (options.training === true) throw new Error("adapterNames (a mixed-adapter batch) cannot be used in training mode (as PEFT)");
  const known = Object.keys(peftState(model).adapters);
  const unknown = [...new Set(names)].filter((n) => n !== BASE_ADAPTER && !known.includes(n));
  if (unknown.length > 0) {
    throw new Error(`adapterNames: no adapter ${unknown.map((n) => `'${n}'`).join(", ")} in this model (adapters: ${known.join(", ") || "none"}; "${BASE_ADAPTER}" runs the base model)`);
  }
};

/**
 * The model's output for `x`, computed in a `tf.tidy` (no intermediate leaks).
 *
 * @example
 *   const logProbs = apply(mlp, x)           // eval mode
 *   const y = apply(model, x, { training: true })
 *   const mixed = apply(model, x, { adapterNames: ["a", "b", "__base__"] }) // one adapter per sample
 */
export const apply = (model: Node, x: tf.Tensor, options: ApplyOptions = {}): tf.Tensor => {
  checkAdapterNames(model, options);
  return tf.tidy(() => forward(model, x, makeCtx(options)));
};
