/**
 * `npm run golden -- [dir] [filter]`: run every golden case under `dir`
 * (default ../shared/golden), one line per case, then `N passed, M failed,
 * K skipped`. Exits non-zero when a case failed.
 */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import { initBackend } from "../src/index.js";
import { runCase } from "./golden/case.js";

const main = async (): Promise<void> => {
  const dir = process.argv[2] ?? nodePath.join(process.cwd(), "..", "shared", "golden");
  const filter = process.argv[3];
  await initBackend();
  const entries = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && (filter === undefined || e.name.includes(filter)))
    .map((e) => e.name)
    .sort();
  let pass = 0;
  let fail = 0;
  let skip = 0;
  for (const name of entries) {
    const caseDir = nodePath.join(dir, name);
    const has = await fs.stat(nodePath.join(caseDir, "case.json")).then(() => true, () => false);
    if (!has) continue;
    const r = await runCase(caseDir);
    if (r.status === "PASS") {
      pass++;
      console.log(`PASS ${r.case}`);
    } else if (r.status === "FAIL") {
      fail++;
      console.log(`FAIL ${r.case}: ${r.reason}`);
    } else {
      skip++;
      console.log(`SKIP ${r.case}: ${r.reason}`);
    }
  }
  console.log(`${pass} passed, ${fail} failed, ${skip} skipped`);
  process.exitCode = fail > 0 ? 1 : 0;
};

void main();
