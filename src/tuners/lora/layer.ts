/**
 * LoRA on the four layer kinds PEFT adapts: `linear`, `conv1d` (GPT-2, the
 * `fan_in_fan_out` layout), `conv2d` and `embedding`; with DoRA, rsLoRA,
 * `lora_bias` and LoRA dropout. Every formula is PEFT's (src/peft/tuners/lora/
 * layer.py and dora.py), restated in the field's notation:
 *
 *   linear:     y = base(x) + s · B(A(drop(x)))                    Δ = s·B·A
 *   embedding:  y = base(ids) + s · Aᵀ[ids] · Bᵀ                    Δ = s·(B·A)ᵀ
 *   conv2d:     y = base(x) + s · B(A(drop(x))), A: k×k conv, B: 1×1 conv
 *   DoRA:       W' = m ⊙ (W + Δ) / ‖W + Δ‖ (norm per output unit, not differentiated)
 *
 * The layer is split by what it does: `./settings.ts` (r, α, scaling),
 * `./create.ts` (slots and init), `./weights.ts` (Δ, DoRA norm, merge) and
 * `./forward.ts`; this module gathers them.
 */
export { loraSettingsFor, loraSlots, type LoraSettings } from "./settings.js";
export { createLora } from "./create.js";
export { doraWeightNorm, loraDelta, mergeLora } from "./weights.js";
export { loraForward } from "./forward.js";
