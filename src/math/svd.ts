/**
 * A thin singular value decomposition in float64, in plain TypeScript
 * (tfjs has none): `A = U · diag(S) · Vh` for a row-major `[m, n]` matrix,
 * with `k = min(m, n)` singular values, descending and non-negative.
 *
 * Method: one-sided Jacobi (Hestenes 1958) on the columns of `A` (or of `Aᵀ`
 * when `m < n`, so the rotated side is always the smaller one): pairs of
 * columns are rotated until all are mutually orthogonal; their norms are the
 * singular values, the normalised columns the left vectors, and the product
 * of the rotations the right ones. It is accurate to a few ulps relative to
 * ‖A‖ (better than the Gram-matrix route, which squares the condition
 * number). Left vectors of (numerically) zero singular values are completed
 * to an orthonormal basis by Gram–Schmidt on the unit vectors, so `U` and
 * `Vh` are orthonormal even for rank-deficient input.
 *
 * Cost: about 5·max(m,n)·min(m,n)² flops per sweep, and 6–12 sweeps: a
 * 4096×4096 delta takes minutes in JavaScript, a 4096×64 one milliseconds.
 * For a product of low-rank factors use {@link svdOfProduct}, which never
 * forms the matrix.
 *
 * @example
 *   const { u, s, vh, k } = svd(Float64Array.from([3, 0, 0, 4]), 2, 2)
 *   // s = [4, 3]; u·diag(s)·vh = [[3, 0], [0, 4]]
 */

/** A thin SVD: `u` [m, k], `s` [k], `vh` [k, n], all row-major, `k = min(m, n)`. */
export interface Svd {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly u: Float64Array;
  readonly s: Float64Array;
  readonly vh: Float64Array;
}

const EPS = 2.220446049250313e-16;
const MAX_SWEEPS = 80;

/**
 * One-sided Jacobi on the `c` columns (each of length `len`) of `cols`:
 * afterwards the columns are mutually orthogonal and `v` (c×c, column j =
 * `v[j]`) holds the accumulated rotations.
 */
const orthogonalizeColumns = (cols: Float64Array[], len: number): Float64Array[] => {
  const c = cols.length;
  const v = Array.from({ length: c }, (_, j) => {
    const e = new Float64Array(c);
    e[j] = 1;
    return e;
  });
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < c - 1; p++) {
      for (let q = p + 1; q < c; q++) {
        const gp = cols[p] as Float64Array;
        const gq = cols[q] as Float64Array;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < len; i++) {
          const x = gp[i] as number;
          const y = gq[i] as number;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < len; i++) {
          const x = gp[i] as number;
          const y = gq[i] as number;
          gp[i] = cs * x - sn * y;
          gq[i] = sn * x + cs * y;
        }
        const vp = v[p] as Float64Array;
        const vq = v[q] as Float64Array;
        for (let i = 0; i < c; i++) {
          const x = vp[i] as number;
          const y = vq[i] as number;
          vp[i] = cs * x - sn * y;
          vq[i] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) break;
  }
  return v;
};

/**
 * Complete `basis` (unit vectors of length `len`, some slots null) to an
 * orthonormal set with unit vectors orthogonalised against what is there.
 * Taking the first whose residual norm exceeds ½/√len always succeeds: with
 * d vectors done, the residuals of all len unit vectors have squared norms
 * summing to len − d ≥ 1, so one is at least 1/√len — and residuals only
 * shrink as vectors are added, so none skipped earlier can be it.
 */
const completeBasis = (basis: Array<Float64Array | null>, len: number): Float64Array[] => {
  const done = basis.filter((b): b is Float64Array => b !== null);
  const enough = 0.5 / Math.sqrt(len);
  let e = 0;
  return basis.map((b) => {
    if (b !== null) return b;
    for (; e < len; e++) {
      const w = new Float64Array(len);
      w[e] = 1;
      // twice is enough (Kahan): one pass of Gram–Schmidt can leave O(ε) overlap
      for (let pass = 0; pass < 2; pass++) {
        for (const d of done) {
          let dot = 0;
          for (let i = 0; i < len; i++) dot += (d[i] as number) * (w[i] as number);
          for (let i = 0; i < len; i++) w[i] = (w[i] as number) - dot * (d[i] as number);
        }
      }
      let nrm = 0;
      for (let i = 0; i < len; i++) nrm += (w[i] as number) ** 2;
      nrm = Math.sqrt(nrm);
      if (nrm > enough) {
        for (let i = 0; i < len; i++) w[i] = (w[i] as number) / nrm;
        done.push(w);
        e++;
        return w;
      }
    }
    throw new Error("svd: cannot complete the basis (internal error)");
  });
};

/**
 * The thin SVD of a row-major `[m, n]` matrix (float64).
 *
 * @example
 *   const { s } = svd(Float64Array.from([1, 2, 3, 4, 5, 6]), 2, 3) // s ≈ [9.508, 0.7729]
 */
export const svd = (a: ArrayLike<number>, m: number, n: number): Svd => {
  if (a.length !== m * n) throw new Error(`svd: expected ${m}×${n} = ${m * n} values, got ${a.length}`);
  const k = Math.min(m, n);
  // rotate the columns of A (m ≥ n) or of Aᵀ (m < n): `c` columns of length `len`
  const tall = m >= n;
  const len = tall ? m : n;
  const c = k;
  const cols = Array.from({ length: c }, (_, j) => {
    const col = new Float64Array(len);
    for (let i = 0; i < len; i++) col[i] = tall ? (a[i * n + j] as number) : (a[j * n + i] as number);
    return col;
  });
  const v = orthogonalizeColumns(cols, len);
  const norms = cols.map((col) => Math.sqrt(col.reduce((acc, x) => acc + x * x, 0)));
  const order = norms.map((_, j) => j).sort((x, y) => (norms[y] as number) - (norms[x] as number));
  const s = Float64Array.from(order, (j) => norms[j] as number);
  const tol = Math.max(m, n) * EPS * (s[0] ?? 0);
  // left vectors of the rotated side: the normalised columns (completed where σ ≈ 0)
  const left = completeBasis(
    order.map((j) => {
      const sigma = norms[j] as number;
      if (!(sigma > tol)) return null;
      return Float64Array.from(cols[j] as Float64Array, (x) => x / sigma);
    }),
    len,
  );
  const right = order.map((j) => v[j] as Float64Array);
  // tall: A = L·S·Rᵀ (U = L, Vh = Rᵀ); wide: Aᵀ = L·S·Rᵀ, so A = R·S·Lᵀ (U = R, Vh = Lᵀ)
  const [uCols, vCols] = tall ? [left, right] : [right, left];
  const u = new Float64Array(m * k);
  const vh = new Float64Array(k * n);
  for (let j = 0; j < k; j++) {
    const uc = uCols[j] as Float64Array;
    for (let i = 0; i < m; i++) u[i * k + j] = uc[i] as number;
    const vc = vCols[j] as Float64Array;
    for (let i = 0; i < n; i++) vh[j * n + i] = vc[i] as number;
  }
  return { m, n, k, u, s, vh };
};

/** Thin QR of a row-major `[rows, cols]` matrix (rows ≥ cols): modified Gram–Schmidt, each column twice ("twice is enough"). Zero columns stay zero in Q. */
const thinQr = (x: Float64Array, rows: number, cols: number): { q: Float64Array; r: Float64Array } => {
  const q = Float64Array.from(x);
  const r = new Float64Array(cols * cols);
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += (q[i * cols + p] as number) * (q[i * cols + j] as number);
        r[p * cols + j] = (r[p * cols + j] as number) + d;
        for (let i = 0; i < rows; i++) q[i * cols + j] = (q[i * cols + j] as number) - d * (q[i * cols + p] as number);
      }
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += (q[i * cols + j] as number) ** 2;
    norm = Math.sqrt(norm);
    r[j * cols + j] = norm;
    for (let i = 0; i < rows; i++) q[i * cols + j] = norm > 0 ? (q[i * cols + j] as number) / norm : 0;
  }
  return { q, r };
};

/** out[i, j] = Σₜ x(i, t)·y(t, j) for an [rows, inner]·[inner, cols] product given by element accessors. */
const product = (rows: number, inner: number, cols: number, x: (i: number, t: number) => number, y: (t: number, j: number) => number): Float64Array => {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let d = 0;
      for (let t = 0; t < inner; t++) d += x(i, t) * y(t, j);
      out[i * cols + j] = d;
    }
  }
  return out;
};

/**
 * The thin SVD of a product `B·A` given its factors — `b` `[m, R]`, `a`
 * `[R, n]`, row-major, R < min(m, n) — without forming it: B = Q_b·R_b and
 * Aᵀ = Q_a·R_a (thin QR), the R×R core R_b·R_aᵀ = U_c·S·V_c by {@link svd},
 * then U = Q_b·U_c and Vh = V_c·Q_aᵀ. Cost ~4·(m + n)·R² flops instead of
 * {@link svd}'s ~5·max(m,n)·min(m,n)² per sweep: what makes combining LoRA
 * adapters of large layers by SVD practical. `k` = R; singular values of a
 * rank-deficient product are 0 and their vectors may be 0 rather than
 * completed to a basis (they multiply zeros).
 *
 * @example
 *   const { s } = svdOfProduct(b, a, 4096, 16, 4096) // the 16 singular values of b·a
 */
export const svdOfProduct = (b: ArrayLike<number>, a: ArrayLike<number>, m: number, rank: number, n: number): Svd => {
  if (b.length !== m * rank || a.length !== rank * n) throw new Error(`svdOfProduct: expected [${m}, ${rank}]·[${rank}, ${n}] factors`);
  if (!(rank < Math.min(m, n))) throw new Error(`svdOfProduct: the inner rank ${rank} must be below min(${m}, ${n}); use svd`);
  const qb = thinQr(Float64Array.from(b), m, rank);
  const at = new Float64Array(n * rank);
  for (let p = 0; p < rank; p++) for (let i = 0; i < n; i++) at[i * rank + p] = a[p * n + i] as number;
  const qa = thinQr(at, n, rank);
  const core = product(rank, rank, rank, (p, t) => qb.r[p * rank + t] as number, (t, q) => qa.r[q * rank + t] as number);
  const c = svd(core, rank, rank);
  const u = product(m, rank, rank, (i, t) => qb.q[i * rank + t] as number, (t, j) => c.u[t * rank + j] as number);
  const vh = product(rank, rank, n, (j, t) => c.vh[j * rank + t] as number, (t, i) => qa.q[i * rank + t] as number);
  return { m, n, k: rank, u, s: c.s, vh };
};
