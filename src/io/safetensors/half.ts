/**
 * Bit-exact conversions between float32 and the narrow float formats
 * safetensors files carry: IEEE binary16 (F16), bfloat16 (BF16) and, for
 * reading only, the two FP8 formats (E5M2, E4M3FN).
 *
 * Narrowing rounds to nearest, ties to even; overflow goes to ±Infinity;
 * subnormals are produced and read exactly; NaN stays NaN with its sign and
 * as much payload as fits. F16 → F32 → F16 and BF16 → F32 → BF16 are the
 * identity on all 65 536 bit patterns, except that a signalling NaN may come back
 * quiet (V8 may quiet one held in a JS number).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE float32 bit pattern of `x` (rounded to float32 first).
 *
 * @example
 *   float32Bits(1) // 0x3f800000
 */
export const float32Bits = (x: number): number => {
  f32[0] = x;
  return u32[0] as number;
};

/**
 * The float32 value of a bit pattern.
 *
 * @example
 *   float32FromBits(0x3f800000) // 1
 */
export const float32FromBits = (bits: number): number => {
  u32[0] = bits >>> 0;
  return f32[0] as number;
};

/**
 * float32 bits → binary16 bits, round to nearest even.
 * `x` is first rounded to float32; for values that are already float32 (all
 * tfjs data) the result is the correctly rounded half.
 *
 * @example
 *   float16Bits(1)    // 0x3c00
 *   float16Bits(-2.5) // 0xc100
 *   float16Bits(1e6)  // 0x7c00 (Infinity)
 */
export const float16Bits = (x: number): number => {
  const bits = float32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (exp >= 113) {
    // Normal in half (unbiased exponent ≥ -14). Rounding may carry into the
    // exponent, and from the largest exponent into Infinity (0x7c00): both right.
    if (exp > 142) return sign | 0x7c00;
    const h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    const up = rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? 1 : 0;
    return sign | (h + up);
  }
  // Subnormal or zero in half: value = m · 2^(exp-150), and a half subnormal
  // counts units of 2^-24, so shift m right by 126 - exp.
  const shift = 126 - exp;
  if (shift > 24) return sign;
  const m = exp === 0 ? mant : mant | 0x800000;
  const h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const up = rest > half || (rest === half && (h & 1) === 1) ? 1 : 0;
  return sign | (h + up);
};

/**
 * binary16 bits → float32 value (exact).
 *
 * @example
 *   float16FromBits(0x3c00) // 1
 *   float16FromBits(0x0001) // 2 ** -24
 */
export const float16FromBits = (h: number): number => float32FromBits(float16ToFloat32Bits(h));

/**
 * binary16 bits → float32 bits (exact).
 *
 * @example
 *   float16ToFloat32Bits(0x3c00) // 0x3f800000
 */
export const float16ToFloat32Bits = (h: number): number => {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 normal.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
};

/**
 * float32 → bfloat16 bits, round to nearest even.
 *
 * @example
 *   bfloat16Bits(1)    // 0x3f80
 *   bfloat16Bits(-2.5) // 0xc020
 */
export const bfloat16Bits = (x: number): number => {
  const bits = float32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    const top = bits >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  // bits + 0x7fff + lsb, then truncate; the carry lands in the exponent
  // (and from the largest finite value into Infinity), as it should.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
};

/**
 * bfloat16 bits → float32 value (exact: bf16 is the top half of a float32).
 *
 * @example
 *   bfloat16FromBits(0x3f80) // 1
 */
export const bfloat16FromBits = (b: number): number => float32FromBits((b & 0xffff) << 16);

/**
 * FP8 E5M2 bits → float32 value. E5M2 is the top byte of a binary16.
 *
 * @example
 *   float8e5m2FromBits(0x3c) // 1
 */
export const float8e5m2FromBits = (b: number): number => float16FromBits((b & 0xff) << 8);

/**
 * FP8 E4M3FN bits → float32 value (bias 7, no infinities, S.1111.111 is NaN),
 * as PyTorch's `float8_e4m3fn`.
 *
 * @example
 *   float8e4m3FromBits(0x38) // 1
 *   float8e4m3FromBits(0x7e) // 448
 */
export const float8e4m3FromBits = (b: number): number => {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
};
