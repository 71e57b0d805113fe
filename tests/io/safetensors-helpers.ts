/** Shared fixtures for the safetensors tests (not a test file itself). */
import { fileURLToPath } from "node:url";

/** `../shared/golden/`: cases written by Python PEFT / safetensors. */
export const GOLDEN = fileURLToPath(new URL("../../../shared/golden/", import.meta.url));

const enc = new TextEncoder();

/** A file from a header text and a data buffer, with an optional lying header length. */
export const fileOf = (header: string, data: Uint8Array | number = 0, headerLength?: bigint): Uint8Array => {
  const h = enc.encode(header);
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
};
