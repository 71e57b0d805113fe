/**
 * PEFT's `print_trainable_parameters`, as data and as its line.
 */
import type { Node } from "../tree/node.js";
import { countParams } from "../tree/params.js";

export interface TrainableReport {
  readonly trainable: number;
  readonly total: number;
  /** trainable / total × 100 */
  readonly percent: number;
}

/**
 * Trainable and total parameter counts. Adapter params count toward the
 * total, `modules_to_save` copies too, and the unmerged originals kept by
 * merged layers do not (PEFT counts parameters the module holds).
 */
export const trainableParameters = (model: Node): TrainableReport => {
  const { total, trainable } = countParams(model);
  return { trainable, total, percent: total === 0 ? 0 : (100 * trainable) / total };
};

/**
 * The line PEFT prints: `trainable params: 1,234 || all params: 5,678 || trainable%: 21.7330`.
 */
export const formatTrainableParameters = (r: TrainableReport): string =>
  `trainable params: ${r.trainable.toLocaleString("en-US")} || all params: ${r.total.toLocaleString("en-US")} || trainable%: ${r.percent.toFixed(4)}`;
