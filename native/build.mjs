#!/usr/bin/env node
/**
 * Build the peft_gemm addon (native/peft_gemm.c) at install time, or skip it.
 *
 * Run by `npm install` / `npm ci` (package.json "install" script) and by
 * .ci/install-native.sh. Prints exactly one line saying what happened and
 * exits 0 either way — without the addon, peft-ts uses its JS fallback — unless
 * PEFT_TS_REQUIRE_NATIVE=1, which turns a skip into a failure (CI).
 *
 * Needs: a C compiler (`$CC`, default `cc`), Node's headers (node_api.h; found
 * next to the running node, in /usr/include/node or /usr/local/include/node, or
 * under `$npm_config_nodedir`), and a CBLAS: OpenBLAS on Linux
 * (Debian/Ubuntu: `apt-get install libopenblas-dev`), Accelerate on macOS
 * (always present; Homebrew's openblas is not needed).
 *
 * How: node-gyp (npm ships one; `$npm_config_node_gyp` points at it inside npm
 * scripts) with `--nodedir` set to the local headers so it never downloads
 * them — this build environment cannot reach nodejs.org; if node-gyp is
 * missing or fails, one direct compiler call (a `.node` file is just a shared
 * library). The result is smoke-tested in a child process before it is kept.
 * Set PEFT_TS_SKIP_NATIVE=1 to skip on purpose. Logs: native/build/build.log.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync, appendFileSync, copyFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const buildDir = join(here, "build");
const target = join(buildDir, "Release", "peft_gemm.node");
const log = join(buildDir, "build.log");
const required = process.env.PEFT_TS_REQUIRE_NATIVE === "1";

const line = (msg) => console.log(`[peft-ts] native GEMM: ${msg}`);

const skip = (why) => {
  if (required) {
    console.error(`[peft-ts] native GEMM: FAILED (${why}) and PEFT_TS_REQUIRE_NATIVE=1`);
    process.exit(1);
  }
  line(`skipped (${why}); the JS fallback will be used`);
  process.exit(0);
};

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  appendFileSync(log, `$ ${cmd} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) + "\n" : ""}exit ${r.status}\n\n`);
  return r;
};

if (["1", "true", "yes"].includes((process.env.PEFT_TS_SKIP_NATIVE ?? "").toLowerCase())) skip("PEFT_TS_SKIP_NATIVE is set");
if (process.platform === "win32") skip("native build not supported on Windows");

mkdirSync(join(buildDir, "Release"), { recursive: true });
writeFileSync(log, `peft_gemm build, ${new Date().toISOString()}, node ${process.version} ${process.platform}-${process.arch}\n\n`);

// Node's headers: the directory holding include/node/node_api.h
const nodeDirs = [
  process.env.npm_config_nodedir,
  resolve(dirname(process.execPath), ".."),
  "/usr/local",
  "/usr",
].filter((d) => typeof d === "string" && d !== "");
const nodeDir = nodeDirs.find((d) => existsSync(join(d, "include", "node", "node_api.h")));
if (nodeDir === undefined) skip("Node.js headers (node_api.h) not found; set npm_config_nodedir");
const nodeInclude = join(nodeDir, "include", "node");

const cc = process.env.CC || "cc";
if (run(cc, ["--version"]).status !== 0) skip(`no C compiler (${cc})`);

const mac = process.platform === "darwin";
const blasFlags = mac ? ["-DPEFT_USE_ACCELERATE", "-DACCELERATE_NEW_LAPACK"] : [];
const blasLibs = mac ? ["-framework", "Accelerate"] : ["-lopenblas"];
const probe = mac
  ? "#include <Accelerate/Accelerate.h>\nint main(void){float a=1,b=1,c=0;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1,&a,1,&b,1,0,&c,1);return c==1?0:1;}\n"
  : "#include <cblas.h>\nint main(void){float a=1,b=1,c=0;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1,&a,1,&b,1,0,&c,1);return c==1?0:1;}\n";
const probeSrc = join(buildDir, "probe.c");
const probeExe = join(buildDir, "probe");
writeFileSync(probeSrc, probe);
if (run(cc, [...blasFlags, probeSrc, "-o", probeExe, ...blasLibs]).status !== 0) {
  skip(mac ? "Accelerate's CBLAS did not link" : "OpenBLAS not found (Debian/Ubuntu: apt-get install libopenblas-dev)");
}
if (run(probeExe, []).status !== 0) skip("the CBLAS probe program failed to run");

const smoke = () => {
  const code =
    `const g=require(${JSON.stringify(target)});const c=new Float32Array(4);` +
    `g.sgemm(false,true,2,2,2,1,new Float32Array([1,2,3,4]),2,new Float32Array([1,0,0,1]),2,0,c,2);` +
    `if(c.join()!=="1,2,3,4")process.exit(1);console.log(g.info()+", "+g.threads()+" thread(s)")`;
  const r = run(process.execPath, ["-e", code]);
  return r.status === 0 ? r.stdout.trim() : undefined;
};

// 1. node-gyp, with the local headers
let how;
const findNodeGyp = () => {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    return createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js");
  } catch {
    /* not a dependency */
  }
  const bundled = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  return existsSync(bundled) ? bundled : undefined;
};
const nodeGyp = findNodeGyp();
if (nodeGyp !== undefined && existsSync(join(nodeDir, "include", "node", "common.gypi"))) {
  const r = run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--loglevel=warn"], { cwd: here });
  if (r.status === 0 && existsSync(target)) how = "node-gyp";
}

// 2. one direct compiler call
if (how === undefined) {
  const out = join(buildDir, "Release", "peft_gemm.tmp.node");
  const args = [
    "-O3", "-std=c11", "-fno-trapping-math", "-fno-math-errno", "-fPIC", "-shared", "-DNODE_GYP_MODULE_NAME=peft_gemm", `-I${nodeInclude}`, ...blasFlags,
    ...["peft_gemm.c", "peft_kernels_napi.c", "peft_pointwise.c", "peft_norm.c", "parallel.c"].map((f) => join(here, f)), "-o", out, "-pthread", ...(mac ? ["-undefined", "dynamic_lookup"] : []), ...blasLibs,
  ];
  if (run(cc, args).status !== 0) skip(`compiling peft_gemm.c failed; see ${log}`);
  copyFileSync(out, target);
  rmSync(out, { force: true });
  how = cc;
}

const info = smoke();
if (info === undefined) {
  rmSync(target, { force: true });
  skip(`the built addon failed its smoke test; see ${log}`);
}
line(`built ${target.slice(resolve(here, "..").length + 1)} with ${how} (${info})`);
