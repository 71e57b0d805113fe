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

/** Every kind this library defines: leaves, containers, architectures and tuner layers. */
export const builtinKinds: Kinds = extendKinds(nnKinds, ...modelKinds.values(), ...tunerKinds.values());

export interface ApplyOptions {
  /** Training mode (dropout active). Default false. */
  readonly training?: boolean;
  /** The kind registry. Default {@link builtinKinds}. */
  readonly kinds?: Kinds;
  /** Side inputs for kinds that read them (attention masks, position ids…). */
  readonly side?: Readonly<Record<string, unknown>>;
}

/** The context `apply` passes to forwards. */
export const makeCtx = (options: ApplyOptions = {}): Ctx => ({
  ...(options.side ?? {}),
  kinds: options.kinds ?? builtinKinds,
  training: options.training ?? false,
});

/**
 * The model's output for `x`, computed in a `tf.tidy` (no intermediate leaks).
 *
 * @example
 *   const logProbs = apply(mlp, x)           // eval mode
 *   const y = apply(model, x, { training: true })
 */
export const apply = (model: Node, x: tf.Tensor, options: ApplyOptions = {}): tf.Tensor =>
  tf.tidy(() => forward(model, x, makeCtx(options)));
