/**
 * Inspection: `show(tree)` prints one line per node with its path, kind, param
 * shapes and trainable marks, then the parameter counts. With a selection it
 * marks which nodes the selection matches (PEFT's `inspect_matched_modules`).
 */
import { trainableNames, type Node } from "./node.js";
import { countParams } from "./params.js";
import type { Path } from "./path.js";
import type { Selection } from "./select.js";

const fmtMeta = (n: Node): string => {
  const shown = Object.entries(n.meta).filter(
    ([k, v]) => k !== "trainable" && k !== "original" && (typeof v !== "object" || v === null || Array.isArray(v)),
  );
  return shown.length === 0 ? "" : ` {${shown.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")}}`;
};

/**
 * A printable outline of a tree.
 *
 * @example
 *   console.log(show(mlp))
 *   // lin0  linear {inFeatures: 10, outFeatures: 20}  weight [20, 10]  bias [20]
 *   // ...
 *   // params: 262 total, 0 trainable (0.00%)
 */
export const show = (t: Node, options: { readonly select?: Selection; readonly meta?: boolean } = {}): string => {
  const lines: string[] = [];
  const go = (n: Node, p: Path, depth: number): void => {
    const tr = trainableNames(n);
    const params = Object.entries(n.params)
      .map(([k, v]) => `${k}${tr.includes(k) ? "*" : ""} [${v.shape.join(", ")}]`)
      .join("  ");
    const mark = options.select === undefined ? "" : options.select(p, n) ? "▶ " : "  ";
    const name = p.length === 0 ? "<root>" : (p[p.length - 1] as string);
    lines.push(
      `${mark}${"  ".repeat(depth)}${name}  ${n.kind}${options.meta === false ? "" : fmtMeta(n)}${params ? "  " + params : ""}`,
    );
    for (const [k, c] of Object.entries(n.children)) go(c, [...p, k], depth + 1);
  };
  go(t, [], 0);
  const { total, trainable } = countParams(t);
  const pct = total === 0 ? 0 : (100 * trainable) / total;
  lines.push(`params: ${total.toLocaleString("en-US")} total, ${trainable.toLocaleString("en-US")} trainable (${pct.toFixed(4)}%)  (* = trainable)`);
  return lines.join("\n");
};
