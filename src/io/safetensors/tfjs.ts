/**
 * Converting between stored tensors ({@link RawTensor}) and tfjs tensors.
 *
 * tfjs computes in float32, int32 and bool only, so reading widens or
 * narrows: F16/BF16/FP8 → float32 (exact), F64 → float32 (rounded), every
 * integer dtype → int32 (a value outside int32 is an error, never a silent
 * wrap), BOOL → bool. Writing can narrow float32 to F16/BF16 (round to
 * nearest even) or widen int32 to I64.
 *
 * The pure halves ({@link decodeRaw}, {@link encodeRaw}) work on typed
 * arrays and do not touch tfjs.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as E from "fp-ts/lib/Either.js";
import {
  type Dtype,
  type RawTensor,
  type SafetensorsError,
  DTYPE_SIZE,
  HOST_LITTLE_ENDIAN,
  SafetensorsException,
  stError,
} from "./format.js";
import {
  bfloat16Bits,
  float16Bits,
  float16ToFloat32Bits,
  float8e4m3FromBits,
  float8e5m2FromBits,
} from "./half.js";

/**
 * Values ready for `tf.tensor`, with the tfjs dtype they need.
 *
 * @example
 *   const d: Decoded = { dtype: "int32", values: new Int32Array([45, 39]) };
 *   tf.tensor(d.values, [2], d.dtype);
 */
export type Decoded =
  | { readonly dtype: "float32"; readonly values: Float32Array }
  | { readonly dtype: "int32"; readonly values: Int32Array }
  | { readonly dtype: "bool"; readonly values: Uint8Array };

/** Reverse each `size`-byte group in place (only on big-endian hosts). */
const swapBytes = (b: Uint8Array, size: number): void => {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
};

/** Copy little-endian bytes into a fresh, aligned buffer in host byte order. */
const hostBuffer = (raw: RawTensor): ArrayBuffer => {
  const copy = new Uint8Array(raw.bytes.length);
  copy.set(raw.bytes);
  if (!HOST_LITTLE_ENDIAN) swapBytes(copy, DTYPE_SIZE[raw.dtype]);
  return copy.buffer;
};

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

const outOfRange = (raw: RawTensor, index: number, value: string, name?: string): SafetensorsError =>
  stError(
    "ValueOutOfRange",
    `${raw.dtype} value ${value} at flat index ${index} does not fit in int32 (tfjs has no 64-bit or unsigned 32-bit integers)`,
    { tensor: name },
  );

/**
 * Decode a stored tensor into the typed array tfjs needs (always a copy).
 *
 * @example
 *   decodeRaw({ dtype: "F16", shape: [1], bytes: new Uint8Array([0x00, 0x3c]) })
 *   // E.right({ dtype: "float32", values: Float32Array [1] })
 */
export const decodeRaw = (raw: RawTensor, name?: string): E.Either<SafetensorsError, Decoded> => {
  const buf = hostBuffer(raw);
  switch (raw.dtype) {
    case "F32":
      return E.right({ dtype: "float32", values: new Float32Array(buf) });
    case "F64":
      return E.right({ dtype: "float32", values: new Float32Array(new Float64Array(buf)) });
    case "F16": {
      const h = new Uint16Array(buf);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = float16ToFloat32Bits(h[i] as number);
      return E.right({ dtype: "float32", values: new Float32Array(bits.buffer) });
    }
    case "BF16": {
      const h = new Uint16Array(buf);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = (h[i] as number) << 16;
      return E.right({ dtype: "float32", values: new Float32Array(bits.buffer) });
    }
    case "F8_E5M2":
    case "F8_E4M3": {
      const decode = raw.dtype === "F8_E5M2" ? float8e5m2FromBits : float8e4m3FromBits;
      return E.right({ dtype: "float32", values: Float32Array.from(new Uint8Array(buf), decode) });
    }
    case "I64":
    case "U64": {
      // Each value is (lo, hi) 32-bit words; it fits in int32 iff hi is lo's sign extension.
      const w = new Int32Array(buf);
      const out = new Int32Array(w.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = w[2 * i] as number;
        const hi = w[2 * i + 1] as number;
        if (hi !== lo >> 31 || (raw.dtype === "U64" && lo < 0)) {
          const big = raw.dtype === "I64" ? new BigInt64Array(buf, 8 * i, 1)[0] : new BigUint64Array(buf, 8 * i, 1)[0];
          return E.left(outOfRange(raw, i, String(big), name));
        }
        out[i] = lo;
      }
      return E.right({ dtype: "int32", values: out });
    }
    case "I32":
      return E.right({ dtype: "int32", values: new Int32Array(buf) });
    case "U32": {
      const u = new Uint32Array(buf);
      const bad = u.findIndex((v) => v > INT32_MAX);
      if (bad >= 0) return E.left(outOfRange(raw, bad, String(u[bad]), name));
      return E.right({ dtype: "int32", values: new Int32Array(buf) });
    }
    case "I16":
      return E.right({ dtype: "int32", values: new Int32Array(new Int16Array(buf)) });
    case "U16":
      return E.right({ dtype: "int32", values: new Int32Array(new Uint16Array(buf)) });
    case "I8":
      return E.right({ dtype: "int32", values: new Int32Array(new Int8Array(buf)) });
    case "U8":
      return E.right({ dtype: "int32", values: new Int32Array(new Uint8Array(buf)) });
    case "BOOL":
      return E.right({ dtype: "bool", values: Uint8Array.from(new Uint8Array(buf), (v) => (v === 0 ? 0 : 1)) });
  }
};

const INT_RANGE: Partial<Record<Dtype, readonly [number, number]>> = {
  I8: [-128, 127],
  U8: [0, 255],
  I16: [-32768, 32767],
  U16: [0, 65535],
  I32: [INT32_MIN, INT32_MAX],
  U32: [0, 2 ** 32 - 1],
  I64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  U64: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * Encode numbers as a stored tensor of `dtype` (little-endian bytes).
 * Floats narrow with round-to-nearest-even; integer dtypes require integral
 * values in range; BOOL stores `v !== 0`.
 *
 * @example
 *   encodeRaw(new Float32Array([1, -2.5]), [2], "BF16") // bytes 80 3f 20 c0
 */
export const encodeRaw = (
  values: ArrayLike<number>,
  shape: readonly number[],
  dtype: Dtype,
  name?: string,
): E.Either<SafetensorsError, RawTensor> => {
  const n = values.length;
  const where = { tensor: name };
  let out: Uint8Array;
  switch (dtype) {
    case "F32":
      out = new Uint8Array(Float32Array.from(values).buffer);
      break;
    case "F64":
      out = new Uint8Array(Float64Array.from(values).buffer);
      break;
    case "F16":
    case "BF16": {
      const narrow = dtype === "F16" ? float16Bits : bfloat16Bits;
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = narrow(values[i] as number);
      out = new Uint8Array(h.buffer);
      break;
    }
    case "BOOL":
      out = Uint8Array.from(values, (v) => (v === 0 ? 0 : 1));
      break;
    case "F8_E5M2":
    case "F8_E4M3":
      return E.left(stError("UnsupportedDtype", `writing ${dtype} is not supported (read-only dtype)`, where));
    default: {
      const [min, max] = INT_RANGE[dtype] as readonly [number, number];
      for (let i = 0; i < n; i++) {
        const v = values[i] as number;
        if (!Number.isInteger(v) || v < min || v > max) {
          const why = Number.isInteger(v) ? `outside the ${dtype} range [${min}, ${max}]` : "not an integer";
          return E.left(stError("ValueOutOfRange", `value ${v} at flat index ${i} is ${why}`, where));
        }
      }
      if (dtype === "I64" || dtype === "U64") {
        const big = new BigInt64Array(n);
        for (let i = 0; i < n; i++) big[i] = BigInt(values[i] as number);
        out = new Uint8Array(big.buffer);
      } else {
        const Ctor = { I8: Int8Array, U8: Uint8Array, I16: Int16Array, U16: Uint16Array, I32: Int32Array, U32: Uint32Array }[
          dtype
        ];
        out = new Uint8Array(Ctor.from(values).buffer);
      }
    }
  }
  if (!HOST_LITTLE_ENDIAN) swapBytes(out, DTYPE_SIZE[dtype]);
  return E.right(Object.freeze({ dtype, shape: Object.freeze([...shape]), bytes: out }));
};

/**
 * A stored tensor as a tfjs tensor, or the reason it cannot be one.
 *
 * @example
 *   const t = toTfTensorE(raw, "ids"); // E.Either<SafetensorsError, tf.Tensor>
 */
export const toTfTensorE = (raw: RawTensor, name?: string): E.Either<SafetensorsError, tf.Tensor> =>
  E.map((d: Decoded) => tf.tensor(d.values, [...raw.shape], d.dtype))(decodeRaw(raw, name));

/**
 * A stored tensor as a new tfjs tensor (the caller owns and disposes it).
 * Throws a {@link SafetensorsException} (`ValueOutOfRange`) for an I64/U32/U64
 * value outside int32.
 *
 * @example
 *   const w = toTfTensor(file.tensors.get("lin0.weight")!); // float32 [20, 10]
 *   w.dispose();
 */
export const toTfTensor = (raw: RawTensor, name?: string): tf.Tensor => {
  const r = toTfTensorE(raw, name);
  if (E.isLeft(r)) throw new SafetensorsException(r.left);
  return r.right;
};

/**
 * The dtype a tfjs tensor is stored as by default: float32 → F32,
 * int32 → I32, bool → BOOL (`undefined` for string and complex64).
 *
 * @example
 *   defaultDtype(tf.scalar(1, "int32")) // "I32"
 */
export const defaultDtype = (t: tf.Tensor): Dtype | undefined =>
  ({ float32: "F32", int32: "I32", bool: "BOOL" } as const)[t.dtype as string] as Dtype | undefined;

/**
 * Read a tfjs tensor's values (async, via `t.data()`) and store them as
 * `dtype` (default: {@link defaultDtype}). Does not dispose `t`. Rejects
 * with a {@link SafetensorsException} for string/complex tensors or values
 * that do not fit the asked dtype.
 *
 * @example
 *   const raw = await fromTfTensor(tf.tensor([1, -2.5]), "F16"); // bytes 00 3c 00 c1
 */
export const fromTfTensor = async (t: tf.Tensor, dtype?: Dtype, name?: string): Promise<RawTensor> => {
  const target = dtype ?? defaultDtype(t);
  if (target === undefined || (t.dtype !== "float32" && t.dtype !== "int32" && t.dtype !== "bool")) {
    throw new SafetensorsException(
      stError("UnsupportedDtype", `tfjs dtype ${t.dtype} cannot be stored in safetensors`, { tensor: name }),
    );
  }
  const values = (await t.data()) as Float32Array | Int32Array | Uint8Array;
  const r = encodeRaw(values, t.shape, target, name);
  if (E.isLeft(r)) throw new SafetensorsException(r.left);
  return r.right;
};
