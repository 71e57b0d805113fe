import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bfloat16Bits,
  bfloat16FromBits,
  float16Bits,
  float16FromBits,
  float32Bits,
  float32FromBits,
  float8e4m3FromBits,
  float8e5m2FromBits,
} from "../../src/io/safetensors/index.js";

describe("float16 (IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits)", () => {
  it.each([
    [1, 0x3c00], // 0 01111 0000000000: 2^(15-15)
    [-2.5, 0xc100], // -1.25·2^1 → 1 10000 0100000000
    [0.5, 0x3800], // 2^-1 → exponent 14 = 01110
    [65504, 0x7bff], // largest finite: (2 - 2^-10)·2^15
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [3 * 2 ** -24, 0x0003], // subnormal, exact
    [0.1, 0x2e66], // 0.1 ≈ 1.6·2^-4: mantissa 0.6·1024 = 614.4 → 614 = 0x266, exponent 11 = 01011
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])("float16Bits(%d) = 0x%s", (x, bits) => {
    expect(float16Bits(x)).toBe(bits);
  });

  it("rounds to nearest, ties to even, overflowing to Infinity", () => {
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 (even) and 0x3c01 → 0x3c00
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02 (even)
    expect(float16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(float16Bits(65519)).toBe(0x7bff); // below the midpoint 65520
    expect(float16Bits(65520)).toBe(0x7c00); // tie with 65536, whose mantissa is even → Infinity
    expect(float16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24 → 0 (even)
    expect(float16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 units, tie → 2 (even)
    expect(float16Bits(-(2 ** -30))).toBe(0x8000); // underflow keeps the sign
    expect(float16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // largest subnormal + half a unit rounds up into the normals
  });

  it("keeps NaN a NaN", () => {
    expect(float16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(float16FromBits(0x7e00)).toBeNaN();
  });

  it("decodes exactly", () => {
    expect(float16FromBits(0x3c00)).toBe(1);
    expect(float16FromBits(0xc100)).toBe(-2.5);
    expect(float16FromBits(0x0001)).toBe(2 ** -24);
    expect(float16FromBits(0x03ff)).toBe(1023 * 2 ** -24);
    expect(float16FromBits(0x7bff)).toBe(65504);
    expect(float16FromBits(0xfc00)).toBe(-Infinity);
    expect(Object.is(float16FromBits(0x8000), -0)).toBe(true);
  });

  it("float16 → float32 → float16 is the identity on all 65 536 bit patterns", () => {
    for (let h = 0; h < 0x10000; h++) {
      const back = float16Bits(float16FromBits(h));
      // V8 may quiet a signalling NaN held in a number (sets the top mantissa bit); sign and payload survive.
      const quieted = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 ? h | 0x200 : h;
      if (back !== h && back !== quieted) throw new Error(`0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
  });

  it("rounds every float32 to a nearest half, ties to even (checked against its neighbours)", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
        const h = float16Bits(x);
        const err = Math.abs(float16FromBits(h) - x);
        const neighbours = [h - 1, h + 1].filter((n) => (n & 0x7fff) < 0x7c00 && n >> 15 === h >> 15);
        return neighbours.every((n) => {
          const other = Math.abs(float16FromBits(n) - x);
          return err < other || (err === other && (h & 1) === 0);
        });
      }),
      { numRuns: 5000 },
    );
  });
});

describe("bfloat16 (the top 16 bits of a float32)", () => {
  it("known patterns", () => {
    expect(bfloat16Bits(1)).toBe(0x3f80); // f32 0x3f800000
    expect(bfloat16Bits(-2.5)).toBe(0xc020); // f32 0xc0200000
    expect(bfloat16Bits(0.1)).toBe(0x3dcd); // f32 0x3dcccccd: low half 0xcccd > 0x8000 → round up
    expect(bfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // 0x3f808000: tie, 0x3f80 is even
    expect(bfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // 0x3f818000: tie, 0x3f81 is odd → up
    expect(bfloat16Bits(float32FromBits(0x7f7fffff))).toBe(0x7f80); // max float32 rounds to Infinity
    expect(bfloat16Bits(-Infinity)).toBe(0xff80);
    expect(bfloat16Bits(2 ** -140)).toBe(0x0000 | (float32Bits(2 ** -140) >>> 16)); // subnormal, exact
    expect(bfloat16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
    expect(bfloat16FromBits(0xc020)).toBe(-2.5);
  });

  it("bfloat16 → float32 → bfloat16 is the identity on all 65 536 bit patterns", () => {
    for (let b = 0; b < 0x10000; b++) {
      const back = bfloat16Bits(bfloat16FromBits(b));
      const quieted = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0 ? b | 0x40 : b; // as above
      if (back !== b && back !== quieted) throw new Error(`0x${b.toString(16)} came back as 0x${back.toString(16)}`);
    }
  });

  it("rounds to a nearest bfloat16", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-3e38), max: Math.fround(3e38) }), (x) => {
        const b = bfloat16Bits(x);
        const err = Math.abs(bfloat16FromBits(b) - x);
        return [b - 1, b + 1]
          .filter((n) => (n & 0x7fff) < 0x7f80 && n >> 15 === b >> 15)
          .every((n) => err <= Math.abs(bfloat16FromBits(n) - x));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("FP8 decoding", () => {
  it("E5M2 is the top byte of a float16", () => {
    expect(float8e5m2FromBits(0x3c)).toBe(1);
    expect(float8e5m2FromBits(0xc1)).toBe(-2.5);
    expect(float8e5m2FromBits(0x7c)).toBe(Infinity);
  });
  it("E4M3FN: bias 7, max 448, no infinities", () => {
    expect(float8e4m3FromBits(0x38)).toBe(1); // 0 0111 000
    expect(float8e4m3FromBits(0xc2)).toBe(-2.5); // 1 1000 010: -(1 + 2/8)·2
    expect(float8e4m3FromBits(0x7e)).toBe(448); // 0 1111 110
    expect(float8e4m3FromBits(0x01)).toBe(2 ** -9); // smallest subnormal
    expect(float8e4m3FromBits(0x7f)).toBeNaN();
    expect(float8e4m3FromBits(0x78)).toBe(256); // 0 1111 000 is finite here
  });
});
