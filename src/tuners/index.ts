import { makeKinds, type Kinds } from "../nn/registry.js";
import { tunerLayerKind } from "./layer.js";
import { modulesToSaveKind } from "./modules-to-save.js";
import { lora } from "./lora/index.js";
import type { AnyTuner } from "./types.js";

export * from "./types.js";
export * from "./config.js";
export * from "./target.js";
export * from "./layer.js";
export * from "./modules-to-save.js";
export { BASE_ADAPTER } from "./mixed-batch.js";
export * from "./lora/index.js";

/** The tuners this library ships, by PEFT type. */
export const builtinTuners: ReadonlyMap<string, AnyTuner> = new Map([[lora.peftType, lora]]);

/** The kinds of adapted layers and wrappers. */
export const tunerKinds: Kinds = makeKinds(modulesToSaveKind, ...[...builtinTuners.values()].map(tunerLayerKind));
