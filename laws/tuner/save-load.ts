/**
 * Tuner law (7): saving in PEFT's format and loading back is the identity.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import type * as tf from "@tensorflow/tfjs-core";
import type { BaseConfig } from "../../src/tuners/config.js";
import { adapterEntry } from "../../src/peft/state.js";
import { adapterTensors } from "../../src/io/adapter-keys.js";
import { adapterDir, loadAdapter, saveAdapter } from "../../src/io/adapter.js";
import { deepEqual, sameBits } from "../eq.js";
import { fail, type LawResult, type TunerLawEnv } from "./env.js";
import { adapt, exact, leakCheckedAsync, run, tunersWith } from "./harness.js";

/**
 * (7) Saving in PEFT's format and loading into the same base model gives the
 * adapter back: the same forward and every adapter tensor bit for bit, and
 * the same config (up to `inference_mode` and `peft_version`, which a save
 * sets as PEFT does).
 *
 * @example
 *   await loadSaveIsIdentity({ tuner: lora, config, base: mlp, input: x })
 */
export const loadSaveIsIdentity = <C extends BaseConfig>(env: TunerLawEnv<C>): Promise<LawResult> =>
  leakCheckedAsync("loadSave", env, async (arena) => {
    const name = env.adapterName ?? "default";
    const tuners = tunersWith(env.tuner);
    const adapted = adapt(env, arena, env.base, env.config, name);
    const tmp = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-ts-law-"));
    try {
      await saveAdapter(adapted, tmp, { adapters: [name], tuners });
      const loaded = arena.tree(await loadAdapter(env.base, adapterDir(tmp, name), { adapterName: name, tuners }));
      const scope = env.tuner.extraTrainable?.(env.config) ?? "none";
      const mine = adapterTensors(adapted, name, scope);
      const back = new Map(adapterTensors(loaded, name, scope).map((t) => [t.fileKey, t.tensor]));
      const keys = (xs: Iterable<string>) => [...xs].sort().join(", ");
      if (keys(mine.map((t) => t.fileKey)) !== keys(back.keys())) {
        return fail(`adapter tensors differ: saved [${keys(mine.map((t) => t.fileKey))}], loaded [${keys(back.keys())}]`);
      }
      for (const t of mine) {
        if (!sameBits(t.tensor, back.get(t.fileKey) as tf.Tensor)) return fail(`${t.fileKey}: loaded tensor differs from the saved one`);
      }
      const norm = (c: BaseConfig) => ({ ...c, inferenceMode: null, peftVersion: null });
      const got = adapterEntry(loaded, name).config;
      if (!deepEqual(norm(got), norm(adapterEntry(adapted, name).config))) {
        return fail(`config differs after load: ${JSON.stringify(norm(got))} vs ${JSON.stringify(norm(adapterEntry(adapted, name).config))}`);
      }
      return exact("forward(load(save(t))) vs forward(t)", run(env, arena, loaded), run(env, arena, adapted));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
