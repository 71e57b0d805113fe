/**
 * The one error type thrown at the library's async edges (loading and saving
 * files). `detail` says what went wrong as data; the message names the file.
 */
export class PeftError extends Error {
  constructor(
    message: string,
    readonly detail: { readonly path?: string; readonly [k: string]: unknown } = {},
  ) {
    super(message);
    this.name = "PeftError";
  }
}

/**
 * The value of a `Right`, or the `Left` thrown as a `PeftError` — for scripts
 * and edges that prefer exceptions to `Either`.
 *
 * @example
 *   const merged = orThrow(mergeAndUnload(adapted))
 */
export const orThrow = <A>(e: { readonly _tag: "Left"; readonly left: { readonly message: string } } | { readonly _tag: "Right"; readonly right: A }): A => {
  if (e._tag === "Right") return e.right;
  throw new PeftError(e.left.message, { error: e.left });
};
