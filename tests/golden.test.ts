/**
 * The golden cases produced by Python PEFT 0.20 (../shared/golden): no case
 * may FAIL, and every case whose method and model are built must PASS.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { runCase } from "../scripts/golden/case.js";

const GOLDEN = process.env["PEFT_TS_GOLDEN"] ?? nodePath.resolve(__dirname, "..", "..", "shared", "golden");

/** Cases that must pass (methods and models this library builds). */
const mustPass = (name: string): boolean => /^(lora_|multi_lora_)/.test(name);

const cases = await fs
  .readdir(GOLDEN, { withFileTypes: true })
  .then((es) => es.filter((e) => e.isDirectory()).map((e) => e.name).sort())
  .catch(() => [] as string[]);

describe("golden cases from Python PEFT 0.20", () => {
  it("finds the golden directory", () => {
    expect(cases.length).toBeGreaterThan(40);
  });
  for (const name of cases) {
    it(name, async () => {
      const before = tf.memory().numTensors;
      const r = await runCase(nodePath.join(GOLDEN, name));
      expect(r.status, r.status === "PASS" ? "" : `${r.status}: ${r.reason}`).not.toBe("FAIL");
      if (mustPass(name)) expect(r.status, r.status === "PASS" ? "" : r.reason).toBe("PASS");
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
