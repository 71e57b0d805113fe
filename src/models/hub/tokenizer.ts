/** Reading a tokenizer from a Hugging Face folder (Node). */
import { promises as fs } from "node:fs";
import * as nodePath from "node:path";
import { PeftError } from "../../io/errors.js";
import { tokenizerFromJson, type TextTokenizer } from "../tokenizer.js";

const readJson = async (file: string, required: boolean): Promise<unknown> => {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PeftError(`${file}: cannot read (${(e as Error).message})`, { path: file });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PeftError(`${file}: not valid JSON (${(e as Error).message})`, { path: file });
  }
};

/**
 * Load `tokenizer.json` (required) and `tokenizer_config.json` (optional:
 * special tokens) from a folder. Throws a `PeftError` naming the file.
 *
 * @example
 *   const tok = await loadTokenizer("./gpt2")
 *   tok.encode("Hello world")   // [15496, 995]
 */
export const loadTokenizer = async (dir: string): Promise<TextTokenizer> => {
  const json = await readJson(nodePath.join(dir, "tokenizer.json"), true);
  const config = await readJson(nodePath.join(dir, "tokenizer_config.json"), false);
  try {
    return tokenizerFromJson(json, (config ?? {}) as Record<string, unknown>);
  } catch (e) {
    throw new PeftError(`${nodePath.join(dir, "tokenizer.json")}: cannot build tokenizer (${(e as Error).message})`, { path: dir });
  }
};
