/**
 * The layout of a matrix product, shared by every path of ./matmul.ts: a
 * {@link MatMulPlan} (sizes, transposes, the broadcast batch and which matrix
 * of each operand every output matrix reads), made once per product by
 * {@link planMatMul} with tfjs's broadcasting rules.
 */
import * as tf from "@tensorflow/tfjs-core";
import { sizeOf } from "./internals.js";

/** The attributes of `BatchMatMul` (and of `_FusedMatMul`) that shape the product. */
export interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** How a (possibly batched, broadcast, transposed) product is laid out. */
export interface MatMulPlan {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** Number of output matrices (product of the broadcast batch dims). */
  readonly batch: number;
  /** Number of matrices stored in `a` and in `b`. */
  readonly aBatch: number;
  readonly bBatch: number;
  /** For output matrix i, which matrix of a / b it reads. */
  readonly aIndex: (i: number) => number;
  readonly bIndex: (i: number) => number;
  readonly outShape: number[];
}

/** Index map of one operand's batch dims into the broadcast batch dims. */
export const batchIndexer = (dims: ReadonlyArray<number>, out: ReadonlyArray<number>): ((i: number) => number) => {
  const own = sizeOf(dims);
  const total = sizeOf(out);
  if (own === total) return (i) => i;
  if (own === 1) return () => 0;
  const lead = out.length - dims.length;
  const table = new Int32Array(total);
  for (let i = 0; i < total; i++) {
    let rem = i;
    let idx = 0;
    let stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const o = out[d] as number;
      const coord = rem % o;
      rem = (rem - coord) / o;
      if (d >= lead) {
        const size = dims[d - lead] as number;
        idx += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    table[i] = idx;
  }
  return (i) => table[i] as number;
};

/** The plan of `matMul(a, b, transposeA, transposeB)` with tfjs's broadcasting rules. */
export const planMatMul = (
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan => {
  const ar = aShape.length;
  const br = bShape.length;
  if (ar < 2 || br < 2) throw new Error(`[peft-ts] matMul needs rank ≥ 2 operands, got ${ar} and ${br}`);
  const M = aShape[transposeA ? ar - 1 : ar - 2] as number;
  const K = aShape[transposeA ? ar - 2 : ar - 1] as number;
  const Kb = bShape[transposeB ? br - 1 : br - 2] as number;
  const N = bShape[transposeB ? br - 2 : br - 1] as number;
  if (K !== Kb) {
    throw new Error(
      `Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${aShape} and ${bShape} ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const aDims = aShape.slice(0, -2);
  const bDims = bShape.slice(0, -2);
  const outDims = tf.broadcast_util.assertAndGetBroadcastShape(aDims, bDims);
  return {
    M, N, K, transposeA, transposeB,
    batch: sizeOf(outDims),
    aBatch: sizeOf(aDims),
    bBatch: sizeOf(bDims),
    aIndex: batchIndexer(aDims, outDims),
    bIndex: batchIndexer(bDims, outDims),
    outShape: [...outDims, M, N],
  };
};

/**
 * Whether `b` is one matrix used by every output and `a`'s batch is the
 * output's, with `a` row-major (untransposed, or transposed explicitly
 * already): then the batch folds into the rows of a single product.
 */
export const foldable = (p: MatMulPlan, aTransposedAlready = false): boolean =>
  p.bBatch === 1 && p.aBatch === p.batch && (!p.transposeA || aTransposedAlready);
