/**
 * Laws every tuner keeps, as pure predicates over one tuner, config, base
 * model and input (DESIGN.md "Laws are the spec"). Each returns a
 * {@link LawResult} naming what went wrong, and each checks that it leaves
 * `tf.memory().numTensors` where it found it (law 8): a law body frees every
 * tensor it made, whether it passes or not.
 *
 *  1. freshInit       inject with an identity init ⇒ forward = base forward
 *  2. disabled        disableAdapters(adapted) ⇒ base forward, merged or not
 *                     (the adapter is perturbed so it is not a no-op; only
 *                     adapter tensors are perturbed: biases trained through
 *                     `bias="all"|"lora_only"` stay trained when disabled, by
 *                     PEFT's design, so they are outside this law)
 *  3. mergeForward    forward(merge(t)) ≈ forward(t), and so does mergeAndUnload,
 *                     within `tuner.tolerance`
 *  4. unmergeMerge    unmerge(merge(t)) ≡ t — the very same tensors, exactly
 *  5. mergeIdempotent merge(merge(t)) ≡ merge(t)
 *  6. unloadInject    unload(inject(m)) ≡ m, and unload(merge(inject(m))) ≡ m
 *                     (for base models whose params are all frozen, as loaded:
 *                     inject freezes the base)
 *  7. loadSave        loadAdapter(base, saveAdapter(t)) has t's forward bit for
 *                     bit, every adapter tensor bit for bit, and t's config
 *  8. mergeCommutes   merging a then b ≈ merging b then a (forward)
 *  (and no leaks, in every one of them)
 *
 * The predicates live in `./tuner/forward.ts` (1–3), `./tuner/merge.ts`
 * (4–6, 8) and `./tuner/save-load.ts` (7), over the model case and
 * environment of `./tuner/env.ts` and the harness of `./tuner/harness.ts`;
 * this module gathers them.
 */
export { fail, pass, tunerLawNames, type LawResult, type ModelCase, type TunerLawEnv, type TunerLawName } from "./tuner/env.js";
export { kindsWith, perturbAdapter, tunersWith } from "./tuner/harness.js";
export { disabledIsBase, freshInitIsIdentity, mergeKeepsForward } from "./tuner/forward.js";
export { mergeIsIdempotent, mergesCommute, unloadInjectIsIdentity, unmergeMergeIsIdentity } from "./tuner/merge.js";
export { loadSaveIsIdentity } from "./tuner/save-load.js";
