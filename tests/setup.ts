import fc from "fast-check";
import { beforeAll } from "vitest";
import { initBackend } from "../src/backend/index.js";

// Property tests run from a fixed seed so that CI is reproducible; set
// PEFT_TS_FC_SEED to another number (or "random") to explore other inputs.
const seed = process.env["PEFT_TS_FC_SEED"];
if (seed !== "random") fc.configureGlobal({ seed: seed === undefined ? 20261128 : Number(seed) });

beforeAll(async () => {
  await initBackend({ quiet: true });
});
