/**
 * `peft-ts/laws`: the library's algebraic promises as fast-check suites
 * (fp-ts-laws's two layers). The pure predicates live in `./lens.ts`,
 * `./tree.ts`, `./tuner.ts` and `./codec.ts`; `./suites/` wraps them with
 * arbitraries and `fc.assert`; this module exports both, so checking your
 * own tuner is one line:
 *
 * @example
 *   import { tunerLaws } from "peft-ts/laws";
 *   it("my tuner keeps the laws", () => tunerLaws(myTuner, arbMyConfig, arbMyModel));
 *
 * Every wrapper also checks that `tf.memory().numTensors` is where it was
 * after each run (no leaks), and throws fast-check's report (with the law's
 * message) when a law fails.
 */
export * from "./eq.js";
export * as lens from "./lens.js";
export * as tree from "./tree.js";
export * as tuner from "./tuner.js";
export * as codec from "./codec.js";
export * from "./arbitrary.js";
export * from "./nodes.js";
export { perturbAdapter, tunerLawNames, type LawResult, type ModelCase, type TunerLawEnv, type TunerLawName } from "./tuner.js";
export * from "./safetensors.js";
export type { RunOptions } from "./suites/run.js";
export * from "./suites/lens.js";
export * from "./suites/tree.js";
export * from "./suites/codec.js";
export * from "./suites/tuner.js";
