/**
 * Decoding Hugging Face `config.json` objects: io-ts codecs for the fields,
 * errors as data naming the field and what was expected.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";

/** A config that does not decode: every bad field, one per line. */
export interface ConfigError {
  readonly _tag: "ConfigError";
  readonly message: string;
}

/**
 * Build a {@link ConfigError}.
 *
 * @example
 *   configError("gpt2 config.n_embd: expected number, got \"x\"")
 */
export const configError = (message: string): ConfigError => ({ _tag: "ConfigError", message });

const describe = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/**
 * Decode `json` with `codec`; a failure lists each field as
 * `what.field: expected <type>, got <value>`.
 *
 * @example
 *   decodeWith(t.type({ n_embd: t.number }), { n_embd: "x" }, "gpt2 config")
 *   // Left({ message: "gpt2 config.n_embd: expected number, got \"x\"" })
 */
export const decodeWith = <A>(codec: t.Decoder<unknown, A>, json: unknown, what: string): E.Either<ConfigError, A> => {
  const r = codec.decode(json);
  if (E.isRight(r)) return E.right(r.right);
  const lines = r.left.map((err) => {
    const path = err.context
      .map((c) => c.key)
      .filter((k) => k !== "" && !/^\d+$/.test(k))
      .join(".");
    const expected = err.context[err.context.length - 1]?.type.name ?? "?";
    return `${what}${path === "" ? "" : `.${path}`}: expected ${expected}, got ${describe(err.value)}`;
  });
  return E.left(configError([...new Set(lines)].join("\n")));
};

/**
 * A number or JSON null (HF writes `null` for unset optional sizes).
 *
 * @example
 *   OptNumber.is(null) // true
 */
export const OptNumber = t.union([t.number, t.null]);

/**
 * Token ids that may be one id, a list of ids, or null.
 *
 * @example
 *   TokenIds.is([1, 2]) // true
 */
export const TokenIds = t.union([t.number, t.array(t.number), t.null]);

/**
 * Fields every HF config may carry that the task heads read.
 *
 * @example
 *   TaskFields.is({ num_labels: 3, pad_token_id: 0 }) // true
 */
export const TaskFields = t.partial({
  num_labels: t.number,
  id2label: t.record(t.string, t.string),
  pad_token_id: TokenIds,
  bos_token_id: TokenIds,
  eos_token_id: TokenIds,
  problem_type: t.union([t.string, t.null]),
  classifier_dropout: OptNumber,
  tie_word_embeddings: t.boolean,
});
export type TaskFields = t.TypeOf<typeof TaskFields>;

/**
 * `num_labels` as transformers derives it: explicit, else the size of `id2label`, else 2.
 *
 * @example
 *   numLabelsOf({ id2label: { 0: "neg", 1: "neu", 2: "pos" } }) // 3
 */
export const numLabelsOf = (c: TaskFields): number => c.num_labels ?? (c.id2label ? Object.keys(c.id2label).length : 2);

/**
 * The first of one-or-many token ids (`pad_token_id` may be a list in some configs).
 *
 * @example
 *   firstId([2, 32000]) // 2
 */
export const firstId = (v: number | ReadonlyArray<number> | null | undefined): number | undefined =>
  v === null || v === undefined ? undefined : typeof v === "number" ? v : v[0];

/**
 * All of one-or-many token ids.
 *
 * @example
 *   allIds(2) // [2]
 */
export const allIds = (v: number | ReadonlyArray<number> | null | undefined): ReadonlyArray<number> =>
  v === null || v === undefined ? [] : typeof v === "number" ? [v] : v;

/**
 * Check a condition while decoding.
 *
 * @example
 *   check(768 % 12 === 0, "n_embd is not divisible by n_head") // Right(undefined)
 */
export const check = (ok: boolean, message: string): E.Either<ConfigError, void> =>
  ok ? E.right(undefined) : E.left(configError(message));

/**
 * `value` is one of `allowed`, or an error naming the field and the choices.
 *
 * @example
 *   checkOneOf("llama config.hidden_act", ["silu", "gelu"], "relu6") // Left("… expected one of silu, gelu, got 'relu6'")
 */
export const checkOneOf = (what: string, allowed: ReadonlyArray<string>, value: string): E.Either<ConfigError, void> =>
  check(allowed.includes(value), `${what}: expected one of ${allowed.join(", ")}, got '${value}'`);
