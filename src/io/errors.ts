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
