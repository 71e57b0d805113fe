/**
 * One golden case, checked through the public API the way a user would load
 * and apply a PEFT adapter: build the base model, load its weights, load the
 * adapter folder, run it active / disabled / merged, and save it again.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  apply,
  builtinTuners,
  disableAdapters,
  disposeTree,
  getAt,
  loadAdapter,
  loadStateDict,
  loadTensors,
  mergeAndUnload,
  saveAdapter,
  setAdapter,
  toStateDict,
  type Node,
} from "../../src/index.js";
import { compare, type Tolerance } from "./compare.js";
import { buildCaseModel } from "./models.js";

export type CaseResult =
  | { readonly status: "PASS"; readonly case: string; readonly checks: number }
  | { readonly status: "FAIL"; readonly case: string; readonly reason: string }
  | { readonly status: "SKIP"; readonly case: string; readonly reason: string };

interface CaseJson {
  readonly case: string;
  readonly peft_type?: string;
  readonly peft_configs?: Readonly<Record<string, unknown>>;
  readonly model: { readonly kind: string; readonly [k: string]: unknown };
  readonly tolerance: { readonly outputs: Tolerance; readonly merged_weights: Tolerance };
  readonly merge_supported?: boolean;
  readonly known_peft_issues?: ReadonlyArray<unknown>;
}

class CheckFailed extends Error {}

const readJson = async (p: string): Promise<any> => JSON.parse(await fs.readFile(p, "utf8"));
const exists = (p: string) => fs.stat(p).then(() => true, () => false);

const inputOf = (kind: string, inputs: Record<string, tf.Tensor>): { x: tf.Tensor; side: Record<string, unknown> } => {
  if (kind === "gpt2") return { x: inputs["input_ids"] as tf.Tensor, side: { attentionMask: inputs["attention_mask"] } };
  const x = inputs["X"] ?? inputs["ids"];
  if (x === undefined) throw new Error(`inputs.safetensors has none of X, ids (have ${Object.keys(inputs).join(", ")})`);
  return { x, side: {} };
};

/** Run one case directory. */
export const runCase = async (dir: string): Promise<CaseResult> => {
  const c: CaseJson = await readJson(nodePath.join(dir, "case.json"));
  const name = c.case;
  const owned: tf.Tensor[] = [];
  const trees: Node[] = [];
  let checks = 0;
  const check = (what: string, got: tf.Tensor, expected: tf.Tensor | undefined, tol: Tolerance): void => {
    if (expected === undefined) throw new CheckFailed(`${what}: no expected tensor`);
    const r = compare(got, expected, tol);
    checks++;
    if (!r.ok) throw new CheckFailed(`${what}: max error ${r.maxError.toExponential(3)}${r.detail ? ` (${r.detail})` : ""}`);
  };
  try {
    const built = buildCaseModel(c.model);
    if (built === undefined) return { status: "SKIP", case: name, reason: `model kind '${c.model.kind}' not built yet` };
    trees.push(built);
    const baseWeights = await loadTensors(nodePath.join(dir, "base_model.safetensors"));
    owned.push(...Object.values(baseWeights));
    const loaded = loadStateDict(built, baseWeights);
    if (E.isLeft(loaded)) throw new CheckFailed(`base_model.safetensors: ${loaded.left.message}`);
    const base = loaded.right;
    const inputs = await loadTensors(nodePath.join(dir, "inputs.safetensors"));
    owned.push(...Object.values(inputs));
    const expected = await loadTensors(nodePath.join(dir, "expected.safetensors"));
    owned.push(...Object.values(expected));
    const { x, side } = inputOf(c.model.kind, inputs);
    const run = (m: Node): tf.Tensor => {
      const y = apply(m, x, { side });
      owned.push(y);
      return y;
    };
    const out = c.tolerance.outputs;
    const mw = c.tolerance.merged_weights;
    check("output_base", run(base), expected["output_base"], out);

    const peftType = c.peft_type ?? (Object.values(c.peft_configs ?? {})[0] as { peft_type?: string } | undefined)?.peft_type ?? "?";
    if (!builtinTuners.has(peftType)) {
      return { status: "SKIP", case: name, reason: `${peftType} not built yet (output_base checked)` };
    }

    if (await exists(nodePath.join(dir, "adapter", "adapter_config.json"))) {
      const adapted = await loadAdapter(base, nodePath.join(dir, "adapter"));
      trees.push(adapted);
      check("output_adapter", run(adapted), expected["output_adapter"], out);
      // When PEFT's files lack trained biases (its lora_only bug, a known issue of the case), its in-memory
      // output_disabled is unreproducible from the files; disabling the loaded adapter must give the base output.
      const disabledKey = expected["output_adapter_in_memory"] !== undefined ? "output_base" : "output_disabled";
      check(`output_disabled (vs ${disabledKey})`, run(disableAdapters(adapted)), expected[disabledKey], out);
      if (c.merge_supported !== false && expected["output_merged"] !== undefined) {
        const merged = mergeAndUnload(adapted);
        if (E.isLeft(merged)) throw new CheckFailed(`merge: ${merged.left.message}`);
        trees.push(merged.right);
        check("output_merged", run(merged.right), expected["output_merged"], out);
        for (const [k, v] of Object.entries(expected)) {
          if (!k.startsWith("merged.")) continue;
          const path = k.slice("merged.".length).replace(/\.weight$/, "");
          check(k, getAt(merged.right, path.split(".")).params["weight"] as tf.Tensor, v, mw);
        }
        const mm = nodePath.join(dir, "merged_model.safetensors");
        if (await exists(mm)) {
          const want = await loadTensors(mm);
          owned.push(...Object.values(want));
          const have = toStateDict(merged.right);
          const keysHave = Object.keys(have).sort().join(",");
          const keysWant = Object.keys(want).sort().join(",");
          if (keysHave !== keysWant) throw new CheckFailed(`merged_model.safetensors keys differ: got ${keysHave} want ${keysWant}`);
          for (const [k, v] of Object.entries(want)) check(`merged_model:${k}`, have[k] as tf.Tensor, v, mw);
        }
      }
      await checkResave(dir, adapted, "default", () => checks++);
    } else {
      checks += await multiAdapter(dir, base, expected, run, check, trees, out, mw);
    }
    return { status: "PASS", case: name, checks };
  } catch (e) {
    if (e instanceof CheckFailed) return { status: "FAIL", case: name, reason: e.message };
    return { status: "FAIL", case: name, reason: `error: ${(e as Error).message}` };
  } finally {
    const kept = new Set(owned);
    for (const t of trees) disposeTree(t);
    for (const t of kept) if (!t.isDisposed) t.dispose();
  }
};

/** Save the loaded adapter again and compare with PEFT's folder: keys, shapes, values, config. */
const checkResave = async (dir: string, adapted: Node, adapter: string, count: () => void): Promise<void> => {
  const srcDir = adapter === "default" ? nodePath.join(dir, "adapter") : nodePath.join(dir, "adapter", adapter);
  const tmp = await fs.mkdtemp(nodePath.join(os.tmpdir(), "peft-golden-"));
  try {
    await saveAdapter(adapted, tmp, { adapters: [adapter] });
    const outDir = adapter === "default" ? tmp : nodePath.join(tmp, adapter);
    const mine = await loadTensors(nodePath.join(outDir, "adapter_model.safetensors"));
    const theirs = await loadTensors(nodePath.join(srcDir, "adapter_model.safetensors"));
    try {
      const case_ = await readJson(nodePath.join(dir, "case.json"));
      const lenient = (case_.known_peft_issues ?? []).length > 0;
      for (const k of Object.keys(theirs)) if (!(k in mine)) throw new CheckFailed(`resave: key ${k} missing`);
      for (const k of Object.keys(mine)) if (!(k in theirs) && !lenient) throw new CheckFailed(`resave: unexpected key ${k}`);
      for (const [k, v] of Object.entries(theirs)) {
        const r = compare(mine[k] as tf.Tensor, v, { atol: 0, rtol: 0 });
        if (!r.ok) throw new CheckFailed(`resave: ${k} differs (${r.detail ?? r.maxError})`);
      }
      count();
    } finally {
      for (const t of [...Object.values(mine), ...Object.values(theirs)]) t.dispose();
    }
    const a = await readJson(nodePath.join(outDir, "adapter_config.json"));
    const b = await readJson(nodePath.join(srcDir, "adapter_config.json"));
    const norm = (v: unknown, k: string) =>
      JSON.stringify(Array.isArray(v) && (k === "target_modules" || k === "modules_to_save") ? [...v].sort() : v);
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      if (norm(a[k], k) !== norm(b[k], k)) throw new CheckFailed(`resave: config field ${k}: ${norm(a[k], k)} vs PEFT's ${norm(b[k], k)}`);
    }
    count();
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
};

/** multi_lora_mlp: one subfolder per adapter; outputs per adapter, both active, per-adapter merges. */
const multiAdapter = async (
  dir: string,
  base: Node,
  expected: Record<string, tf.Tensor>,
  run: (m: Node) => tf.Tensor,
  check: (what: string, got: tf.Tensor, exp: tf.Tensor | undefined, tol: Tolerance) => void,
  trees: Node[],
  out: Tolerance,
  mw: Tolerance,
): Promise<number> => {
  const names = (await fs.readdir(nodePath.join(dir, "adapter"))).sort();
  let model = base;
  for (const n of names) {
    model = await loadAdapter(model, nodePath.join(dir, "adapter", n), { adapterName: n });
    trees.push(model);
  }
  let checks = 0;
  for (const n of names) {
    const one = setAdapter(model, n);
    check(`output.${n}`, run(one), expected[`output.${n}`], out);
    checks++;
    if (expected[`output_merged.${n}`] !== undefined) {
      const merged = mergeAndUnload(one);
      if (E.isLeft(merged)) throw new CheckFailed(`merge ${n}: ${merged.left.message}`);
      trees.push(merged.right);
      check(`output_merged.${n}`, run(merged.right), expected[`output_merged.${n}`], out);
      for (const [k, v] of Object.entries(expected)) {
        if (!k.startsWith(`merged.${n}.`)) continue;
        const path = k.slice(`merged.${n}.`.length).replace(/\.weight$/, "");
        check(k, getAt(merged.right, path.split(".")).params["weight"] as tf.Tensor, v, mw);
      }
    }
    await checkResave(dir, model, n, () => checks++);
  }
  if (expected["output.a+b"] !== undefined) check("output.a+b", run(setAdapter(model, ["a", "b"])), expected["output.a+b"], out);
  check("output_disabled", run(disableAdapters(model)), expected["output_disabled"], out);
  return checks + 2;
};

