import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { adapterConfigJson, adapterEntry, buildFromConfig, disposeTree, fromLayers, inject, lora, loraConfig } from "../../src/index.js";
import { tinyGpt2Config } from "../models/fixtures.js";

describe("fan_in_fan_out as PEFT records it", () => {
  it("is set true for GPT-2's Conv1D targets and written so (golden lora_gpt2_auto_fan_in_fan_out)", () => {
    const before = tf.memory().numTensors;
    const built = buildFromConfig(tinyGpt2Config);
    if (E.isLeft(built)) throw new Error("build");
    const adapted = inject(built.right, lora, loraConfig({ r: 2, targetModules: ["c_attn"], fanInFanOut: false }));
    expect(adapterEntry(adapted, "default").config).toMatchObject({ fanInFanOut: true });
    expect(adapterConfigJson(adapted, "default")["fan_in_fan_out"]).toBe(true);
    disposeTree(adapted);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("is set false for torch Linear targets", () => {
    const before = tf.memory().numTensors;
    const base = fromLayers([{ name: "lin0", op: "linear", in_features: 3, out_features: 2 }]);
    const adapted = inject(base, lora, loraConfig({ r: 1, targetModules: ["lin0"], fanInFanOut: true }));
    expect(adapterConfigJson(adapted, "default")["fan_in_fan_out"]).toBe(false);
    disposeTree(adapted);
    expect(tf.memory().numTensors).toBe(before);
  });
});
