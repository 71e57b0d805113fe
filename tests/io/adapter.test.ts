/**
 * Saving and loading adapters in PEFT's format: the files a save writes,
 * where non-default adapters go, config keys from newer PEFT versions, every
 * way a folder can fail to load (each a PeftError naming the key or file),
 * and all-or-nothing saves over an existing folder.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  adapterNames,
  apply,
  disposeReplaced,
  disposeTree,
  fromLayers,
  inject,
  loadAdapter,
  loadStateDict,
  loadTensors,
  lora,
  loraConfig,
  partition,
  PeftError,
  saveAdapter,
  tensorsOf,
  writeSafetensorsFile,
  type LoraConfig,
  type Node,
} from "../../src/index.js";
import { readSafetensorsFile } from "../../src/io/safetensors.js";
import { perturbAdapter, sameBits } from "../../laws/index.js";
import { leakFree, mlpSpecs } from "../laws/models.js";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-ts-adapter-test-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const freeAll = (...trees: ReadonlyArray<Node>): void => tf.dispose([...new Set(trees.flatMap((t) => [...tensorsOf(t)]))]);

/** An adapted golden MLP with a non-trivial adapter (perturbed), the replaced tensors freed. */
const adapted = (base: Node, cfg: Partial<LoraConfig> = {}, name = "default", seed = 0): Node => {
  const injected = inject(base, lora, loraConfig({ r: 4, targetModules: ["lin0", "lin1"], initLoraWeights: false, ...cfg }), { adapterName: name, seed });
  const out = perturbAdapter(injected, name, seed, 0.1);
  disposeReplaced(injected, out);
  return out;
};

const readJson = async (p: string): Promise<Record<string, unknown>> => JSON.parse(await fs.readFile(p, "utf8"));
const ls = async (d: string): Promise<ReadonlyArray<string>> => (await fs.readdir(d)).sort();

/** The PeftError message a promise rejects with. */
const rejection = async (p: Promise<unknown>): Promise<PeftError> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PeftError);
    return e as PeftError;
  }
  throw new Error("did not reject");
};

/** Rewrite the weights file of a saved folder. */
const editWeights = async (folder: string, edit: (w: Record<string, tf.Tensor>) => Record<string, tf.Tensor>): Promise<void> => {
  const file = nodePath.join(folder, "adapter_model.safetensors");
  const w = await loadTensors(file);
  const next = edit(w);
  await writeSafetensorsFile(file, next, { metadata: { format: "pt" } });
  tf.dispose([...new Set([...Object.values(w), ...Object.values(next)])]);
};

describe("saveAdapter", () => {
  it("writes PEFT's two files: sorted snake_case config, prefixed keys, format=pt", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      expect(await ls(dir)).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
      const cfg = await readJson(nodePath.join(dir, "adapter_config.json"));
      expect(Object.keys(cfg)).toEqual([...Object.keys(cfg)].sort());
      expect(cfg).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, inference_mode: true, peft_version: "0.20.0", target_modules: ["lin0", "lin1"], init_lora_weights: false });
      const file = await readSafetensorsFile(nodePath.join(dir, "adapter_model.safetensors"));
      expect(file.metadata).toEqual({ format: "pt" });
      expect([...file.tensors.keys()].sort()).toEqual([
        "base_model.model.lin0.lora_A.weight",
        "base_model.model.lin0.lora_B.weight",
        "base_model.model.lin1.lora_A.weight",
        "base_model.model.lin1.lora_B.weight",
      ]);
      expect(file.tensors.get("base_model.model.lin1.lora_B.weight")?.shape).toEqual([2, 4]);
      freeAll(m);
    }));

  it("puts the default adapter in dir and every other adapter in dir/<name>", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(adapted(base), { r: 2, targetModules: ["lin1"] }, "second", 1);
      await saveAdapter(m, dir);
      expect(await ls(dir)).toEqual(["adapter_config.json", "adapter_model.safetensors", "second"]);
      expect(await ls(nodePath.join(dir, "second"))).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
      expect((await readJson(nodePath.join(dir, "second", "adapter_config.json")))["r"]).toBe(2);
      const only = nodePath.join(dir, "only");
      await saveAdapter(m, only, { adapters: ["second"] });
      expect(await ls(only)).toEqual(["second"]);
      // load both back: same forward for each
      const back = await loadAdapter(await loadAdapter(base, dir), nodePath.join(dir, "second"), { adapterName: "second" });
      expect(adapterNames(back)).toEqual(["default", "second"]);
      const x = tf.randomNormal([2, 10], 0, 1, "float32", 1);
      const y1 = apply(m, x);
      const y2 = apply(back, x);
      expect(sameBits(y1, y2)).toBe(true);
      tf.dispose([x, y1, y2]);
      freeAll(m, back);
    }));

  it("modules_to_save copies and bias='all' biases go under the module's own keys", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base, { targetModules: ["lin0"], modulesToSave: ["lin1"], bias: "all" });
      await saveAdapter(m, dir);
      const file = await readSafetensorsFile(nodePath.join(dir, "adapter_model.safetensors"));
      expect([...file.tensors.keys()].sort()).toEqual([
        "base_model.model.lin0.base_layer.bias", // PEFT's key: the adapted layer's own state-dict name
        "base_model.model.lin0.lora_A.weight",
        "base_model.model.lin0.lora_B.weight",
        "base_model.model.lin1.bias",
        "base_model.model.lin1.weight",
      ]);
      freeAll(m);
    }));

  it("refuses a model without adapters and unsafe adapter names", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      expect((await rejection(saveAdapter(base, dir))).message).toMatch(/the model has no adapter/);
      const m = adapted(base);
      await expect(saveAdapter(m, dir, { adapters: ["../escape"] })).rejects.toThrow(/invalid adapter name/);
      await saveAdapter(m, dir);
      for (const bad of ["a/b", "../x", "", "lora_B"]) {
        await expect(loadAdapter(base, dir, { adapterName: bad })).rejects.toThrow(/invalid adapter name/);
      }
      expect(await ls(nodePath.dirname(dir))).not.toContain("escape");
      freeAll(m);
    }));
});

describe("loadAdapter", () => {
  it("loads what was saved, trainable only when asked", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      const frozen = await loadAdapter(base, dir);
      const trainable = await loadAdapter(base, dir, { isTrainable: true });
      expect(Object.keys(partition(frozen).trainable)).toEqual([]);
      expect(Object.keys(partition(trainable).trainable)).toHaveLength(4);
      freeAll(m, frozen, trainable);
    }));

  it("carries config keys from a newer PEFT through a save", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      const cfgPath = nodePath.join(dir, "adapter_config.json");
      const json = await readJson(cfgPath);
      await fs.writeFile(cfgPath, JSON.stringify({ ...json, use_hyper_lora: { depth: 3, modes: ["a", "b"] }, zeta_flag: true }));
      const loaded = await loadAdapter(base, dir);
      const out = nodePath.join(dir, "resaved");
      await saveAdapter(loaded, out);
      const again = await readJson(nodePath.join(out, "adapter_config.json"));
      expect(again["use_hyper_lora"]).toEqual({ depth: 3, modes: ["a", "b"] });
      expect(again["zeta_flag"]).toBe(true);
      expect(Object.keys(again)).toEqual([...Object.keys(again)].sort());
      freeAll(m, loaded);
    }));

  describe("a folder that does not fit is a PeftError naming the key or file", () => {
    const saved = async (): Promise<{ base: Node; m: Node }> => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      return { base, m };
    };

    it("a missing key", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        await editWeights(dir, ({ "base_model.model.lin1.lora_B.weight": _gone, ...rest }) => rest);
        const e = await rejection(loadAdapter(base, dir));
        expect(e.message).toMatch(/adapter_model\.safetensors: adapter 'default' does not fit the model: missing keys: base_model\.model\.lin1\.lora_B\.weight$/);
        expect(e.detail["missing"]).toEqual(["base_model.model.lin1.lora_B.weight"]);
        freeAll(m);
      }));

    it("an unexpected key", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        await editWeights(dir, (w) => ({ ...w, "base_model.model.lin2.lora_A.weight": tf.zeros([4, 3]) }));
        const e = await rejection(loadAdapter(base, dir));
        expect(e.message).toMatch(/unexpected keys: base_model\.model\.lin2\.lora_A\.weight/);
        freeAll(m);
      }));

    it("a wrong shape", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        await editWeights(dir, (w) => ({ ...w, "base_model.model.lin0.lora_A.weight": tf.zeros([4, 11]) }));
        const e = await rejection(loadAdapter(base, dir));
        expect(e.message).toMatch(/shape mismatch: base_model\.model\.lin0\.lora_A\.weight: expected \[4, 10\], got \[4, 11\]/);
        freeAll(m);
      }));

    it("malformed JSON", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        await fs.writeFile(nodePath.join(dir, "adapter_config.json"), '{"peft_type": "LORA", "r": 4,');
        const e = await rejection(loadAdapter(base, dir));
        expect(e.message).toMatch(/adapter_config\.json: not valid JSON/);
        expect(e.detail.path).toBe(nodePath.join(dir, "adapter_config.json"));
        freeAll(m);
      }));

    it("an unknown or missing peft_type, a bad field", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        const cfgPath = nodePath.join(dir, "adapter_config.json");
        const json = await readJson(cfgPath);
        await fs.writeFile(cfgPath, JSON.stringify({ ...json, peft_type: "SUPER_LORA" }));
        expect((await rejection(loadAdapter(base, dir))).message).toMatch(/adapter_config\.json: peft_type 'SUPER_LORA' is not supported \(supported: LORA\)/);
        const { peft_type: _gone, ...noType } = json;
        await fs.writeFile(cfgPath, JSON.stringify(noType));
        expect((await rejection(loadAdapter(base, dir))).message).toMatch(/adapter_config\.json: missing 'peft_type'/);
        await fs.writeFile(cfgPath, JSON.stringify({ ...json, r: 0 }));
        expect((await rejection(loadAdapter(base, dir))).message).toMatch(/adapter_config\.json: invalid config: .*\/r: /);
        freeAll(m);
      }));

    it("missing files", () =>
      leakFree(async () => {
        const { base, m } = await saved();
        await fs.rm(nodePath.join(dir, "adapter_model.safetensors"));
        expect((await rejection(loadAdapter(base, dir))).message).toMatch(/adapter_model\.safetensors/);
        await fs.rm(nodePath.join(dir, "adapter_config.json"));
        expect((await rejection(loadAdapter(base, dir))).message).toMatch(/adapter_config\.json: cannot read adapter config/);
        freeAll(m);
      }));
  });
});

describe("saves are all-or-nothing", () => {
  /** Every file under a folder with its bytes. */
  const snapshot = async (d: string): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const e of await fs.readdir(d, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) {
        const p = nodePath.join(e.parentPath, e.name);
        out[nodePath.relative(d, p)] = (await fs.readFile(p)).toString("base64");
      }
    }
    return out;
  };

  it("a save that fails on its second adapter leaves the first adapter's old files intact", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(adapted(base), { targetModules: ["lin1"] }, "second", 1);
      await saveAdapter(m, dir, { adapters: ["default"] });
      const before = await snapshot(dir);
      await fs.writeFile(nodePath.join(dir, "second"), "a file where a folder must go");
      const m2 = adapted(adapted(base, {}, "default", 5), { targetModules: ["lin1"] }, "second", 6);
      const e = await rejection(saveAdapter(m2, dir));
      expect(e.message).toMatch(/second/);
      expect(await snapshot(dir)).toEqual({ ...before, second: Buffer.from("a file where a folder must go").toString("base64") });
      freeAll(m, m2);
    }));

  it("a config that cannot be written as JSON leaves the old weights and config intact", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      const before = await snapshot(dir);
      const m2 = adapted(base, { extra: { bad: BigInt(1) } }, "default", 9);
      const e = await rejection(saveAdapter(m2, dir));
      expect(e.message).toMatch(/adapter_config\.json: the config cannot be written as JSON/);
      expect(await snapshot(dir)).toEqual(before); // no new weights, no temporary files
      freeAll(m, m2);
    }));

  it("a successful save over an old one replaces both files and leaves nothing else", () =>
    leakFree(async () => {
      const base = fromLayers(mlpSpecs, 0);
      const m = adapted(base);
      await saveAdapter(m, dir);
      const m2 = adapted(base, { r: 2 }, "default", 3);
      await saveAdapter(m2, dir);
      expect(await ls(dir)).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
      expect((await readJson(nodePath.join(dir, "adapter_config.json")))["r"]).toBe(2);
      const back = await loadAdapter(base, dir);
      const sd = E.isRight(loadStateDict(back, {}, { strict: false }));
      expect(sd).toBe(true);
      freeAll(m, m2, back);
    }));
});
