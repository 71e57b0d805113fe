import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as E from "fp-ts/lib/Either.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Dtype,
  type RawTensor,
  decodeRaw,
  encodeRaw,
  fromTfTensor,
  SafetensorsException,
  toTfTensor,
  toTfTensorE,
} from "../../src/io/safetensors/index.js";
import { loadTensors } from "../../src/io/safetensors/file.js";
import { GOLDEN } from "./safetensors-helpers.js";

let baseline = 0;
beforeEach(() => {
  baseline = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(baseline);
});

const u8 = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const raw = (dtype: Dtype, shape: number[], bytes: Uint8Array): RawTensor => ({ dtype, shape, bytes });

/** Convert, read back values and dtype, dispose. */
const viaTf = async (r: RawTensor): Promise<{ dtype: string; shape: number[]; values: number[] }> => {
  const t = toTfTensor(r);
  try {
    return { dtype: t.dtype, shape: t.shape, values: Array.from(await t.data()) };
  } finally {
    t.dispose();
  }
};

describe("toTfTensor: every dtype from known little-endian bytes", () => {
  it.each<[Dtype, Uint8Array, string, number[]]>([
    // F32 1.0 = 0x3f800000, -2.5 = 0xc0200000
    ["F32", u8(0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0), "float32", [1, -2.5]],
    // F16 1.0 = 0x3c00, -2.5 = 0xc100
    ["F16", u8(0x00, 0x3c, 0x00, 0xc1), "float32", [1, -2.5]],
    // BF16 1.0 = 0x3f80, -2.5 = 0xc020
    ["BF16", u8(0x80, 0x3f, 0x20, 0xc0), "float32", [1, -2.5]],
    // F64 1.0 = 0x3ff0000000000000, 0.1 = 0x3fb999999999999a (narrowed to the float32 nearest 0.1)
    ["F64", u8(0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f), "float32", [1, Math.fround(0.1)]],
    // I64 -1 = ff…ff, 2^31-1 = ff ff ff 7f 00 00 00 00
    ["I64", u8(255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 127, 0, 0, 0, 0), "int32", [-1, 2 ** 31 - 1]],
    ["U64", u8(7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "int32", [7, 0]],
    ["I32", u8(0xfe, 0xff, 0xff, 0xff, 0, 1, 0, 0), "int32", [-2, 256]],
    ["U32", u8(0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0), "int32", [2 ** 31 - 1, 1]],
    ["I16", u8(0x00, 0x80, 0xff, 0x7f), "int32", [-32768, 32767]],
    ["U16", u8(0xff, 0xff, 0x01, 0x00), "int32", [65535, 1]],
    ["I8", u8(0x80, 0x7f), "int32", [-128, 127]],
    ["U8", u8(0xff, 0x00), "int32", [255, 0]],
    ["BOOL", u8(1, 0), "bool", [1, 0]],
    ["F8_E5M2", u8(0x3c, 0xc1), "float32", [1, -2.5]],
    ["F8_E4M3", u8(0x38, 0xc2), "float32", [1, -2.5]],
  ])("%s", async (dtype, bytes, tfDtype, values) => {
    const out = await viaTf(raw(dtype, [2], bytes));
    expect(out).toEqual({ dtype: tfDtype, shape: [2], values });
  });

  it("keeps shapes, including scalars and zero-sized tensors", async () => {
    expect((await viaTf(raw("F32", [], u8(0, 0, 0x80, 0x3f)))).shape).toEqual([]);
    expect((await viaTf(raw("F32", [0, 3], u8()))).shape).toEqual([0, 3]);
  });

  it("copies: changing the file bytes later does not change the tensor", async () => {
    const bytes = u8(0x00, 0x3c);
    const t = toTfTensor(raw("F16", [1], bytes));
    bytes[1] = 0x40;
    expect(Array.from(await t.data())).toEqual([1]);
    t.dispose();
  });

  it("reads unaligned views", async () => {
    const file = u8(9, 0x00, 0x00, 0x80, 0x3f); // F32 1.0 at byte offset 1
    expect((await viaTf(raw("F32", [1], file.subarray(1)))).values).toEqual([1]);
  });

  it("refuses I64 / U64 / U32 values outside int32, naming tensor, index and value", () => {
    const big = raw("I64", [2], u8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0)); // [0, 2^31]
    const e = toTfTensorE(big, "ids");
    expect(E.isLeft(e) && e.left._tag).toBe("ValueOutOfRange");
    expect(() => toTfTensor(big, "ids")).toThrow(/tensor "ids": I64 value 2147483648 at flat index 1 does not fit in int32/);
    const neg = raw("I64", [1], u8(0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff)); // -2^31 - 1
    expect(() => toTfTensor(neg)).toThrow(/value -2147483649/);
    expect(() => toTfTensor(raw("U64", [1], u8(0, 0, 0, 0x80, 0, 0, 0, 0)))).toThrow(SafetensorsException);
    expect(() => toTfTensor(raw("U32", [1], u8(0, 0, 0, 0x80)))).toThrow(/U32 value 2147483648/);
  });
});

describe("fromTfTensor: narrowing and widening", () => {
  const bytesOf = async (t: tf.Tensor, dtype?: Dtype): Promise<number[]> => {
    try {
      return [...(await fromTfTensor(t, dtype)).bytes];
    } finally {
      t.dispose();
    }
  };

  it("stores the natural dtype by default", async () => {
    expect(await bytesOf(tf.tensor([1, -2.5]))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]);
    expect(await bytesOf(tf.tensor([-2, 256], [2], "int32"))).toEqual([0xfe, 0xff, 0xff, 0xff, 0, 1, 0, 0]);
    expect(await bytesOf(tf.tensor([true, false], [2], "bool"))).toEqual([1, 0]);
    const t = tf.tensor([[1, 2]]);
    expect((await fromTfTensor(t)).shape).toEqual([1, 2]);
    t.dispose();
  });

  it("narrows to F16 / BF16 with round-to-nearest-even", async () => {
    expect(await bytesOf(tf.tensor([1, -2.5]), "F16")).toEqual([0x00, 0x3c, 0x00, 0xc1]);
    expect(await bytesOf(tf.tensor([1, -2.5]), "BF16")).toEqual([0x80, 0x3f, 0x20, 0xc0]);
    // 1 + 2^-11 is a tie in F16 → 1.0 (0x3c00); 1 + 3·2^-8 is a tie in BF16 → 0x3f82.
    expect(await bytesOf(tf.tensor([1 + 2 ** -11]), "F16")).toEqual([0x00, 0x3c]);
    expect(await bytesOf(tf.tensor([1 + 3 * 2 ** -8]), "BF16")).toEqual([0x82, 0x3f]);
    expect(await bytesOf(tf.tensor([1e6]), "F16")).toEqual([0x00, 0x7c]); // overflow → +Infinity
  });

  it("widens int32 to I64 and F32 to F64", async () => {
    expect(await bytesOf(tf.tensor([-1], [1], "int32"), "I64")).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
    expect(await bytesOf(tf.tensor([1]), "F64")).toEqual([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
  });

  it("refuses values that do not fit, and unstorable tfjs dtypes", async () => {
    const t = tf.tensor([1, 300], [2], "int32");
    await expect(fromTfTensor(t, "I8", "w")).rejects.toThrow(/tensor "w": value 300 at flat index 1 is outside the I8 range \[-128, 127\]/);
    const f = tf.tensor([0.5]);
    await expect(fromTfTensor(f, "I32")).rejects.toThrow(/value 0.5 at flat index 0 is not an integer/);
    const s = tf.tensor(["a"]);
    await expect(fromTfTensor(s)).rejects.toThrow(/tfjs dtype string cannot be stored/);
    tf.dispose([t, f, s]);
  });

  it("round-trips through tfjs exactly for F32, F16, BF16, I64, U8, BOOL", async () => {
    const cases: Array<[Dtype, Uint8Array]> = [
      ["F32", new Uint8Array(new Float32Array([0.1, -3e-40, 65504, -0]).buffer)],
      ["F16", new Uint8Array(new Uint16Array([0x3c00, 0x0001, 0x7bff, 0x8000]).buffer)],
      ["BF16", new Uint8Array(new Uint16Array([0x3f80, 0x0001, 0x7f7f, 0xc020]).buffer)],
      ["I64", new Uint8Array(new BigInt64Array([-5n, 2n ** 31n - 1n, -(2n ** 31n), 0n]).buffer)],
      ["U8", u8(0, 1, 254, 255)],
      ["BOOL", u8(1, 0, 0, 1)],
    ];
    for (const [dtype, bytes] of cases) {
      const t = toTfTensor(raw(dtype, [2, 2], bytes));
      const back = await fromTfTensor(t, dtype);
      t.dispose();
      expect([dtype, ...back.bytes]).toEqual([dtype, ...bytes]);
      expect(back.shape).toEqual([2, 2]);
    }
  });

  it("pure halves agree: decodeRaw ∘ encodeRaw = id on float32 values", () => {
    const values = new Float32Array([1, -2.5, 0.1, 3e-41]);
    const r = encodeRaw(values, [4], "F32");
    const d = E.isRight(r) ? decodeRaw(r.right) : r;
    expect(E.isRight(d) && [...d.right.values]).toEqual([...values]);
  });
});

describe("loadTensors on Python-written files", () => {
  it("gives the lora_mlp adapter's values as float32 tensors", async () => {
    const w = await loadTensors(join(GOLDEN, "lora_mlp/adapter/adapter_model.safetensors"));
    try {
      const a = w["base_model.model.lin0.lora_A.weight"] as tf.Tensor;
      expect(a.shape).toEqual([4, 10]);
      expect(a.dtype).toBe("float32");
      expect(Array.from(await a.data()).slice(0, 3)).toEqual([
        0.019485116004943848, 0.291442334651947, -0.18657627701759338,
      ]);
      // numpy (float64 accumulate): -0.8127906080335379
      const total = Array.from(await a.data()).reduce((s, v) => s + v, 0);
      expect(total).toBeCloseTo(-0.8127906080335379, 6);
      expect(Object.keys(w)).toHaveLength(4);
    } finally {
      tf.dispose(Object.values(w));
    }
  });

  it("gives lora_emb's I64 ids as int32", async () => {
    const w = await loadTensors(join(GOLDEN, "lora_emb/inputs.safetensors"));
    const ids = w["ids"] as tf.Tensor;
    expect([ids.dtype, ids.shape]).toEqual(["int32", [2, 6]]);
    expect(Array.from(await ids.data())).toEqual([45, 39, 24, 18, 13, 13, 41, 41, 9, 32, 48, 49]);
    tf.dispose(Object.values(w));
  });
});
