import { beforeAll } from "vitest";
import { initBackend } from "../src/backend/index.js";

beforeAll(async () => {
  await initBackend({ quiet: true });
});
