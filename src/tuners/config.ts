/**
 * Config codecs from field tables.
 *
 * A tuner's config is declared once as a table of fields — the camelCase TS
 * name, PEFT's snake_case JSON key, an io-ts codec and PEFT's default — and
 * {@link configCodec} derives from it the io-ts codec between
 * `adapter_config.json` and the typed config. Unknown keys (written by newer
 * PEFT versions) are kept in `extra` and written back unchanged, instead of
 * failing the load (PEFT users' most common load error).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";

/** One config field. */
export interface Field<A> {
  readonly key: string;
  readonly codec: t.Type<A, unknown, unknown>;
  readonly default: A;
}

/** Declare a field: JSON key, codec, default. */
export const field = <A>(key: string, codec: t.Type<A, unknown, unknown>, def: A): Field<A> => ({
  key,
  codec,
  default: def,
});

export type Fields = Readonly<Record<string, Field<any>>>;

/** The typed config a field table describes, plus the unknown keys carried through. */
export type ConfigOf<F extends Fields> = {
  readonly [K in keyof F]: F[K] extends Field<infer A> ? A : never;
} & { readonly extra: Readonly<Record<string, unknown>> };

/** The JSON form of a config (`adapter_config.json`'s object). */
export type JsonConfig = Readonly<Record<string, unknown>>;

/** Defaults of every field (what PEFT writes for an all-default config). */
export const defaultsOf = <F extends Fields>(fields: F): ConfigOf<F> =>
  ({ ...Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.default])), extra: {} }) as ConfigOf<F>;

/**
 * The io-ts codec of a field table. Decoding fills PEFT's defaults for absent
 * or `null`-defaulted keys and keeps unknown keys; encoding writes every field
 * under its JSON key, sorted, as PEFT's `to_json_string(sort_keys=True)` does.
 *
 * @example
 *   const C = configCodec("LoraConfig", { r: field("r", t.number, 8) })
 *   C.decode({ r: 4, new_key: 1 }) // Right({ r: 4, extra: { new_key: 1 } })
 */
export const configCodec = <F extends Fields>(name: string, fields: F): t.Type<ConfigOf<F>, JsonConfig, unknown> => {
  const byKey = new Map(Object.entries(fields).map(([camel, f]) => [f.key, [camel, f] as const]));
  return new t.Type<ConfigOf<F>, JsonConfig, unknown>(
    name,
    (u): u is ConfigOf<F> => typeof u === "object" && u !== null && "extra" in u,
    (u, c) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return t.failure(u, c, `${name} must be a JSON object`);
      const out: Record<string, unknown> = {};
      // collected as entries: `extra[k] = v` with k = "__proto__" (valid JSON) would set the prototype and lose the key
      const extra: Array<readonly [string, unknown]> = [];
      const errors: t.Errors = [];
      for (const [camel, f] of Object.entries(fields)) out[camel] = f.default;
      for (const [k, v] of Object.entries(u as Record<string, unknown>)) {
        const hit = byKey.get(k);
        if (hit === undefined) {
          extra.push([k, v]);
          continue;
        }
        const [camel, f] = hit;
        const r = f.codec.validate(v, [...c, { key: k, type: f.codec, actual: v }]);
        if (E.isLeft(r)) errors.push(...r.left);
        else out[camel] = r.right;
      }
      return errors.length > 0 ? t.failures(errors) : t.success({ ...out, extra: Object.fromEntries(extra) } as ConfigOf<F>);
    },
    (a) => {
      const json: Record<string, unknown> = { ...a.extra };
      for (const [camel, f] of Object.entries(fields)) json[f.key] = f.codec.encode((a as Record<string, unknown>)[camel]);
      return Object.fromEntries(Object.entries(json).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    },
  );
};

/** Decode or throw an error listing each bad field with its path. */
export const decodeOrThrow = <A, O>(codec: t.Type<A, O, unknown>, u: unknown, where: string): A => {
  const r = codec.decode(u);
  if (E.isRight(r)) return r.right;
  throw new Error(`${where}: invalid ${codec.name}: ${PathReporter.report(r).join("; ")}`);
};

// -------------------------------------------------------------------------------------
// shared codecs
// -------------------------------------------------------------------------------------

/** A JSON value (kept as is). */
export const Json: t.Type<unknown, unknown, unknown> = t.unknown;

/** `null` or A. */
export const nullable = <A>(c: t.Type<A, unknown, unknown>): t.Type<A | null, unknown, unknown> =>
  t.union([t.null, c]) as unknown as t.Type<A | null, unknown, unknown>;

/** Strings or a list of strings (PEFT stores sets as lists). */
export const StringList = t.readonlyArray(t.string) as unknown as t.Type<ReadonlyArray<string>, unknown, unknown>;

/** An integer ≥ 1. */
export const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, "PositiveInt") as unknown as t.Type<
  number,
  unknown,
  unknown
>;

/** An integer ≥ 0. */
export const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, "NonNegativeInt") as unknown as t.Type<
  number,
  unknown,
  unknown
>;

/** A probability in [0, 1). */
export const Rate = t.refinement(t.number, (n) => n >= 0 && n < 1, "Rate") as unknown as t.Type<number, unknown, unknown>;

/** `target_modules`: a list of names (suffix match), a regex string (full match), or "all-linear". */
export const TargetModules = nullable(t.union([t.string, StringList]) as t.Type<string | ReadonlyArray<string>, unknown, unknown>);

/** Layer indices: one int or a list. */
export const LayerIndices = nullable(t.union([t.number, t.readonlyArray(t.number)]) as t.Type<number | ReadonlyArray<number>, unknown, unknown>);

/** `{pattern: value}` maps (rank_pattern, alpha_pattern). */
export const NumberPattern = t.record(t.string, t.number) as unknown as t.Type<Readonly<Record<string, number>>, unknown, unknown>;

/**
 * The fields every injected tuner shares (PEFT's `PeftConfig` + targeting).
 * Tuner tables spread these and add their own.
 */
export const baseFields = {
  peftType: field("peft_type", t.string, ""),
  taskType: field("task_type", nullable(t.string), null),
  baseModelNameOrPath: field("base_model_name_or_path", nullable(t.string), null),
  revision: field("revision", nullable(t.string), null),
  inferenceMode: field("inference_mode", t.boolean, false),
  autoMapping: field("auto_mapping", Json, null),
  peftVersion: field("peft_version", nullable(t.string), null),
  targetModules: field("target_modules", TargetModules, null),
  excludeModules: field("exclude_modules", TargetModules, null),
  layersToTransform: field("layers_to_transform", LayerIndices, null),
  layersPattern: field("layers_pattern", nullable(t.union([t.string, StringList]) as t.Type<string | ReadonlyArray<string>, unknown, unknown>), null),
  modulesToSave: field("modules_to_save", nullable(StringList), null),
} as const;

export type BaseConfig = ConfigOf<typeof baseFields>;
