/**
 * The few internals of the `wasm` and `cpu` backends that our kernels use,
 * typed structurally (the packages' own declarations mark some of them
 * private), plus helpers to read and write tensor memory in place.
 *
 * - wasm: every tensor lives in the WebAssembly heap at
 *   `dataIdMap.get(dataId).memoryOffset`; the C++ side knows tensors by a
 *   numeric id registered with `tfjs.registerTensor(id, size, offset)`.
 *   `makeOutput` allocates (`_malloc`), which may grow the heap and detach
 *   every `Float32Array` view made before it — so views are always made after
 *   the last allocation of a kernel ({@link f32View} is cheap).
 * - cpu: every tensor's values are a typed array at `data.get(dataId).values`.
 */
import * as tf from "@tensorflow/tfjs-core";

export type DataId = object;

interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The Emscripten module behind the wasm backend (the parts we use). */
export interface WasmModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  cwrap(name: string, ret: null | "number", args: ReadonlyArray<"number" | "array">): (...a: unknown[]) => unknown;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

/** `BackendWasm`, structurally. */
export interface WasmBackend extends tf.KernelBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: DataId): WasmTensorData | undefined; has(dataId: DataId): boolean };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
  readSync(dataId: DataId): tf.backend_util.BackendValues;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** `MathBackendCPU`, structurally. */
export interface CpuBackend extends tf.KernelBackend {
  data: { get(dataId: DataId): { values?: tf.backend_util.BackendValues } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  disposeIntermediateTensorInfo(t: tf.TensorInfo): void;
  readSync(dataId: DataId): tf.backend_util.BackendValues;
}

export const isWasm = (b: unknown): b is WasmBackend =>
  typeof b === "object" && b !== null && "wasm" in b && "dataIdMap" in b && "makeOutput" in b;

export const isCpu = (b: unknown): b is CpuBackend =>
  typeof b === "object" && b !== null && "data" in b && "makeTensorInfo" in b && !("wasm" in b);

export const sizeOf = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1);

/** A float32 view of a wasm tensor's memory (valid until the next allocation). */
export const wasmF32 = (be: WasmBackend, t: tf.TensorInfo): Float32Array => {
  const d = be.dataIdMap.get(t.dataId);
  if (d === undefined) throw new Error("[peft-ts] wasm tensor has no data");
  return new Float32Array(be.wasm.HEAPU8.buffer, d.memoryOffset, sizeOf(t.shape));
};

/** An int32 view of a wasm tensor's memory (valid until the next allocation). */
export const wasmI32 = (be: WasmBackend, t: tf.TensorInfo): Int32Array => {
  const d = be.dataIdMap.get(t.dataId);
  if (d === undefined) throw new Error("[peft-ts] wasm tensor has no data");
  return new Int32Array(be.wasm.HEAPU8.buffer, d.memoryOffset, sizeOf(t.shape));
};

/** The byte offset of a wasm tensor in the heap. */
export const wasmOffset = (be: WasmBackend, t: tf.TensorInfo): number => {
  const d = be.dataIdMap.get(t.dataId);
  if (d === undefined) throw new Error("[peft-ts] wasm tensor has no data");
  return d.memoryOffset;
};

/**
 * Register a C++-side tensor id for `size` elements at heap byte `offset`,
 * aliasing memory some other tensor owns (no copy, no allocation). Release it
 * with {@link releaseAlias}, which forgets the id without freeing the memory.
 */
export const aliasId = (be: WasmBackend, offset: number, size: number): number => {
  const id = be.dataIdNextNumber++;
  be.wasm.tfjs.registerTensor(id, size, offset);
  return id;
};

export const releaseAlias = (be: WasmBackend, id: number): void => be.wasm.tfjs.disposeData(id);

/** The float32 values of a cpu tensor in place, or undefined if not stored as a Float32Array. */
export const cpuF32 = (be: CpuBackend, t: tf.TensorInfo): Float32Array | undefined => {
  const v = be.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : undefined;
};

/**
 * A kernel output of `shape` on `be`, and a getter for a float32 view of it
 * (call the getter after the last allocation; on cpu the view is stable).
 */
export const allocF32 = (
  be: tf.KernelBackend,
  shape: number[],
): { info: tf.TensorInfo; view: () => Float32Array } => {
  if (isWasm(be)) {
    const info = be.makeOutput(shape, "float32");
    return { info, view: () => wasmF32(be, info) };
  }
  if (isCpu(be)) {
    const values = new Float32Array(sizeOf(shape));
    const info = be.makeTensorInfo(shape, "float32", values);
    return { info, view: () => values };
  }
  throw new Error("[peft-ts] allocF32: unsupported backend");
};

/** A tensor's values as the typed array of its dtype (float32, int32, bool). */
export type TypedValues = Float32Array | Int32Array | Uint8Array;

/** A tensor's values in place, typed by dtype (float32, int32, bool; else undefined). */
export const typedView = (be: tf.KernelBackend, t: tf.TensorInfo): TypedValues | undefined => {
  if (t.dtype !== "float32" && t.dtype !== "int32" && t.dtype !== "bool") return undefined;
  if (isWasm(be)) {
    const d = be.dataIdMap.get(t.dataId);
    if (d === undefined) return undefined;
    const n = sizeOf(t.shape);
    const buf = be.wasm.HEAPU8.buffer;
    return t.dtype === "float32" ? new Float32Array(buf, d.memoryOffset, n) : t.dtype === "int32" ? new Int32Array(buf, d.memoryOffset, n) : new Uint8Array(buf, d.memoryOffset, n);
  }
  if (isCpu(be)) {
    const v = be.data.get(t.dataId)?.values;
    return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array ? v : undefined;
  }
  return undefined;
};
