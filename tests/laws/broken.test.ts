/**
 * The tuner laws can fail: tuners broken on purpose (a merge that forgets the
 * update, an init that is not the identity, a merge that leaks, a codec that
 * loses a field) are caught by the law that states the promise they break.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import * as t from "io-ts";
import * as tf from "@tensorflow/tfjs-core";
import { lora, LoraConfig, type Tuner } from "../../src/index.js";
import { tunerProperties, type TunerLawName } from "../../laws/index.js";
import { arbLora, arbMlp, loraInits } from "./models.js";

const cfg = arbLora({ targetModules: ["lin0", "lin1"] });

/** The failure message of one law (its own message, not only fast-check's header). */
const lawFailure = async (tuner: Tuner<LoraConfig>, law: TunerLawName, options = loraInits, clean = true): Promise<string> => {
  const before = tf.memory().numTensors;
  try {
    await fc.assert(tunerProperties(tuner, cfg, arbMlp, options)[law], { numRuns: 5 });
  } catch (e) {
    const err = e as Error & { cause?: unknown };
    return `${err.cause instanceof Error ? err.cause.message : err.message}`;
  } finally {
    // the laws free what they make even when they fail
    if (clean) expect(tf.memory().numTensors).toBe(before);
  }
  return "passed";
};

describe("broken tuners break the laws", () => {
  it("the real LoRA passes the laws these tests use", async () => {
    for (const law of ["freshInit", "mergeForward", "loadSave"] as const) expect(await lawFailure(lora, law)).toBe("passed");
  });

  it("a merge that forgets the update breaks forward∘merge ≈ forward", async () => {
    const forgetful: Tuner<LoraConfig> = { ...lora, merge: (_layer, _adapter, base) => base };
    expect(await lawFailure(forgetful, "mergeForward")).toMatch(/mergeForward: forward\(merge\(t\)\) vs forward\(t\): max error/);
  });

  it("an init that is not the identity breaks fresh-init ⇒ base", async () => {
    expect(await lawFailure(lora, "freshInit", { ...loraInits, identityInit: loraInits.nonTrivial })).toMatch(
      /freshInit: forward\(inject\(m\)\) vs forward\(m\)/,
    );
  });

  it("a merge that leaks a tensor breaks the no-leak law", async () => {
    const leaked: tf.Tensor[] = [];
    const leaky: Tuner<LoraConfig> = {
      ...lora,
      merge: (layer, adapter, base) => {
        leaked.push(tf.zeros([1]));
        return (lora.merge as NonNullable<typeof lora.merge>)(layer, adapter, base);
      },
    };
    const before = tf.memory().numTensors;
    expect(await lawFailure(leaky, "unmergeMerge", loraInits, false)).toMatch(
      /unmergeMerge: tf\.memory\(\)\.numTensors went from \d+ to \d+ \(leaked/,
    );
    expect(leaked.length).toBeGreaterThan(0);
    tf.dispose(leaked);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a codec that loses a field breaks load∘save = id", async () => {
    const lossy = new t.Type<LoraConfig, Readonly<Record<string, unknown>>, unknown>(
      "LossyLoraConfig",
      LoraConfig.is,
      LoraConfig.validate,
      (c) => {
        const { lora_alpha: _gone, ...rest } = LoraConfig.encode(c);
        return rest;
      },
    );
    const forgetsAlpha: Tuner<LoraConfig> = { ...lora, codec: lossy };
    const alphaNot8 = arbLora({ targetModules: ["lin0", "lin1"], loraAlpha: 3 });
    let message = "passed";
    try {
      await fc.assert(tunerProperties(forgetsAlpha, alphaNot8, arbMlp, loraInits).loadSave, { numRuns: 3 });
    } catch (e) {
      message = ((e as Error & { cause?: Error }).cause ?? (e as Error)).message;
    }
    expect(message).toMatch(/loadSave: config differs after load/);
  });
});
