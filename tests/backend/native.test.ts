/**
 * The native GEMM addon (native/peft_gemm.c) — when it is built — and the
 * choice of GEMM path: its contract (in-place products and transposes on
 * Float32Array views, bounds checks), `PEFT_TS_GEMM`, the start-up report, and
 * the install script's clean skip.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { backendReport, gemmReport, loadNativeGemm, setGemmPath } from "../../src/backend/index.js";
import { referenceMatMul, values } from "./helpers.js";

const native = loadNativeGemm();
const root = fileURLToPath(new URL("../..", import.meta.url));

describe.runIf(native.ok)("native addon", () => {
  const g = native.ok ? native.gemm : (undefined as never);

  it("sgemm computes op(A)·op(B) in place, inside larger arrays (lda/ldb/ldc, views)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }),
        fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 5 }),
        (M, N, K, ta, tb, extra, offset) => {
          const aRows = ta ? K : M;
          const aCols = ta ? M : K;
          const bRows = tb ? N : K;
          const bCols = tb ? K : N;
          const lda = aCols + extra;
          const ldb = bCols + extra;
          const ldc = N + extra;
          const A = values(offset + aRows * lda, 1);
          const B = values(offset + bRows * ldb, 2);
          const C = new Float32Array(offset + M * ldc).fill(7);
          g.sgemm(ta, tb, M, N, K, 1, A.subarray(offset), lda, B.subarray(offset), ldb, 0, C.subarray(offset), ldc);
          // pack the operands densely for the reference
          const a = new Float32Array(aRows * aCols);
          for (let r = 0; r < aRows; r++) for (let c = 0; c < aCols; c++) a[r * aCols + c] = A[offset + r * lda + c] as number;
          const b = new Float32Array(bRows * bCols);
          for (let r = 0; r < bRows; r++) for (let c = 0; c < bCols; c++) b[r * bCols + c] = B[offset + r * ldb + c] as number;
          const ref = referenceMatMul(a, [aRows, aCols], b, [bRows, bCols], ta, tb).data;
          for (let m = 0; m < M; m++) {
            for (let n = 0; n < N; n++) {
              expect(Math.abs((C[offset + m * ldc + n] as number) - (ref[m * N + n] as number))).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref[m * N + n] as number)));
            }
            for (let n = N; n < ldc; n++) expect(C[offset + m * ldc + n]).toBe(7); // padding untouched
          }
          for (let i = 0; i < offset; i++) expect(C[i]).toBe(7);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("sgemm honours alpha and beta", () => {
    const C = new Float32Array([1, 1, 1, 1]);
    g.sgemm(false, false, 2, 2, 1, 2, new Float32Array([1, 2]), 1, new Float32Array([3, 4]), 2, 0.5, C, 2);
    expect(Array.from(C)).toEqual([6.5, 8.5, 12.5, 16.5]);
  });

  it("sgemmStrided runs a batch, stride 0 broadcasting an operand", () => {
    const A = values(3 * 2 * 4, 1);
    const B = values(4 * 5, 2);
    const C = new Float32Array(3 * 2 * 5);
    g.sgemmStrided(false, false, 2, 5, 4, 1, A, 4, 8, B, 5, 0, 0, C, 5, 10, 3);
    const ref = referenceMatMul(A, [3, 2, 4], B, [4, 5], false, false).data;
    ref.forEach((v, i) => expect(C[i]).toBeCloseTo(v, 4));
  });

  it("transpose moves [batch, rows, cols, inner] to [batch, cols, rows, inner]", () => {
    const [batch, rows, cols, inner] = [2, 3, 37, 2];
    const src = values(batch * rows * cols * inner, 3);
    const dst = new Float32Array(src.length);
    g.transpose(src, dst, batch, rows, cols, inner);
    for (let b = 0; b < batch; b++)
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          for (let i = 0; i < inner; i++)
            expect(dst[((b * cols + c) * rows + r) * inner + i]).toBe(src[((b * rows + r) * cols + c) * inner + i]);
  });

  it("rejects operands too short for the shapes, wrong types and wrong arity", () => {
    const f = new Float32Array(6);
    expect(() => g.sgemm(false, false, 3, 2, 3, 1, f, 3, f, 2, 0, f, 2)).toThrow(/A too short/);
    expect(() => g.sgemm(false, false, 2, 2, 3, 1, f, 3, new Float32Array(5), 2, 0, f, 2)).toThrow(/B too short/);
    expect(() => g.sgemm(false, false, 2, 2, 2, 1, f, 1, f, 2, 0, f, 2)).toThrow(/lda too small/);
    expect(() => g.sgemm(false, false, 1, 1, 1, 1, new Float64Array(1) as unknown as Float32Array, 1, f, 1, 0, f, 1)).toThrow(/Float32Arrays/);
    expect(() => g.sgemm(false, false, -1, 1, 1, 1, f, 1, f, 1, 0, f, 1)).toThrow(/non-negative/);
    expect(() => (g.sgemm as unknown as (...a: unknown[]) => void)(false, false)).toThrow(/13 arguments/);
    expect(() => g.sgemmStrided(false, false, 2, 2, 2, 1, f, 2, 4, f, 2, 0, 0, f, 2, 4, 2)).toThrow(/too short/);
    expect(() => g.transpose(f, f, 1, 2, 3, 1)).toThrow(/alias/);
  });

  it("reports its BLAS and thread count, and can change threads", () => {
    expect(g.info()).toMatch(/openblas|accelerate/);
    const before = g.threads();
    expect(before).toBeGreaterThanOrEqual(1);
    g.setThreads(1);
    if (g.info().startsWith("openblas")) expect(g.threads()).toBe(1);
    g.setThreads(before);
    expect(() => g.setThreads(0)).toThrow();
  });
});

describe("GEMM path selection", () => {
  const saved = process.env["PEFT_TS_GEMM"];
  afterEach(() => {
    if (saved === undefined) delete process.env["PEFT_TS_GEMM"];
    else process.env["PEFT_TS_GEMM"] = saved;
    setGemmPath();
  });

  it("reports the path taken at start-up", () => {
    const report = backendReport();
    expect(report?.gemm.path).toMatch(/^(native openblas|js fallback|stock)$/);
    if (saved === undefined) expect(report?.gemm.path).toBe(native.ok ? "native openblas" : "js fallback");
  });

  it("PEFT_TS_GEMM=js forces the fallback; =stock leaves tfjs's kernels; a bad value is an error", () => {
    process.env["PEFT_TS_GEMM"] = "js";
    expect(setGemmPath().path).toBe("js fallback");
    expect(gemmReport()?.detail).toBe("PEFT_TS_GEMM=js");
    process.env["PEFT_TS_GEMM"] = "stock";
    expect(setGemmPath().path).toBe("stock");
    process.env["PEFT_TS_GEMM"] = "blas";
    expect(() => setGemmPath()).toThrow(/PEFT_TS_GEMM=blas/);
  });

  it("PEFT_TS_GEMM=native insists on the addon", () => {
    process.env["PEFT_TS_GEMM"] = "native";
    if (native.ok) expect(setGemmPath().path).toBe("native openblas");
    else expect(() => setGemmPath()).toThrow(/unavailable/);
  });
});

describe("install script", () => {
  it("skips cleanly, in one line, when told to", () => {
    const r = spawnSync(process.execPath, ["native/build.mjs"], { cwd: root, encoding: "utf8", env: { ...process.env, PEFT_TS_SKIP_NATIVE: "1" } });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["[peft-ts] native GEMM: skipped (PEFT_TS_SKIP_NATIVE is set); the JS fallback will be used"]);
  });

  it("skips cleanly without a compiler, and fails when the native path is required", () => {
    const env = { ...process.env, CC: "/nonexistent/cc" };
    const r = spawnSync(process.execPath, ["native/build.mjs"], { cwd: root, encoding: "utf8", env });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[peft-ts\] native GEMM: skipped \(no C compiler/);
    const strict = spawnSync(process.execPath, ["native/build.mjs"], { cwd: root, encoding: "utf8", env: { ...env, PEFT_TS_REQUIRE_NATIVE: "1" } });
    expect(strict.status).toBe(1);
  });
});
